"""Reading JSON request bodies from untrusted callers.

``json.loads`` recurses once per nesting level: a body of 100 000 ``[`` raised
RecursionError, which no view expected, and the request ended as a 500. ``loads`` turns
that, and any nesting deeper than a caller's ``max_depth``, into ``JSONTooDeep`` (a
ValueError, so views that already answer "not JSON" with a 400 keep doing so), and
measures depth on the parsed value without recursion of its own.
"""

from __future__ import annotations

import json
from typing import Any

#: deeper than any GraphQL variables or registry request body a real client sends
DEFAULT_MAX_DEPTH = 64


class JSONTooDeep(ValueError):
    """The JSON nests deeper than allowed."""

    def __init__(self, max_depth: int) -> None:
        super().__init__(f"the JSON nests deeper than {max_depth} levels; send a flatter "
                         "document")
        self.max_depth = max_depth


def loads(data: bytes | str, max_depth: int = DEFAULT_MAX_DEPTH) -> Any:
    """``json.loads(data)``, refusing nesting deeper than ``max_depth`` with JSONTooDeep.

    Raises ValueError (json.JSONDecodeError) for text that is not JSON and
    UnicodeDecodeError for bytes that are not UTF-8, as ``json.loads`` does."""
    try:
        value = json.loads(data)
    except RecursionError:
        raise JSONTooDeep(max_depth) from None
    if depth(value, limit=max_depth) > max_depth:
        raise JSONTooDeep(max_depth)
    return value


def depth(value: Any, limit: int | None = None) -> int:
    """How deeply ``value`` nests lists and objects (a scalar: 0); stops counting once past
    ``limit``. Iterative: it must not recurse on what it is there to bound."""
    deepest = 0
    pending: list[tuple[Any, int]] = [(value, 0)]
    while pending:
        item, level = pending.pop()
        if isinstance(item, dict):
            children: Any = item.values()
        elif isinstance(item, list):
            children = item
        else:
            continue
        level += 1
        deepest = max(deepest, level)
        if limit is not None and deepest > limit:
            return deepest
        pending.extend((child, level) for child in children)
    return deepest
