"""Effects by idempotency key: what each key's writes created, so a test can assert
"exactly one effect per step" (a retry replayed, not applied twice).

A server records each object a keyed write creates (`record`); replays create nothing and
record nothing. The control API reads them back per kind, e.g. for the key `saga-1:charge`:

    {"charges": {"saga-1:charge": {"created": 1, "current": 0, "ids": ["PAY-000001"]}}}

`created` counts the objects the key's writes made; `current` those still in effect (a
reservation not released, an invoice not cancelled, a charge not refunded), as the server
judges them now.
"""

from __future__ import annotations

import threading
from collections.abc import Callable, Collection
from typing import Any

IsCurrent = Callable[[str, str], bool]
"""(kind, object id) -> whether the object is still in effect."""


class EffectLedger:
    def __init__(self, kinds: Collection[str]) -> None:
        self.kinds = tuple(kinds)
        self._lock = threading.Lock()
        self._created: dict[str, dict[str, list[str]]] = {kind: {} for kind in self.kinds}

    def record(self, kind: str, key: str | None, object_id: str) -> None:
        """`object_id` was created by a write under `key` (nothing is kept without a key)."""
        if key is None:
            return
        with self._lock:
            self._created[kind].setdefault(key, []).append(object_id)

    def clear(self) -> None:
        with self._lock:
            self._created = {kind: {} for kind in self.kinds}

    def to_json(self, is_current: IsCurrent, *, key: str | None = None,
                key_prefix: str | None = None) -> dict[str, Any]:
        """Per kind, per key: created, current and the ids; only `key`, or keys starting
        with `key_prefix`, when given."""
        with self._lock:
            created = {kind: {k: list(ids) for k, ids in by_key.items()}
                       for kind, by_key in self._created.items()}
        answer: dict[str, Any] = {}
        for kind, by_key in created.items():
            answer[kind] = {
                k: {"created": len(ids), "current": sum(is_current(kind, i) for i in ids),
                    "ids": ids}
                for k, ids in sorted(by_key.items())
                if (key is None or k == key) and (key_prefix is None or k.startswith(key_prefix))
            }
        return answer
