"""Opaque cursors: what an adapter hands out to resume a listing or change detection.

Callers store a cursor and pass it back; only the adapter that issued it reads it. A
cursor names its kind, so one issued by another query (or adapter) fails clearly.
"""

from __future__ import annotations

import base64
import binascii
import json
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from apps.adapters.base import InvalidQuery
from apps.adapters.record_reader import parse_timestamp

Position = tuple[datetime, Any]
"""A record's place in change order: (update time, the source's key)."""


def text_key_position(record: Any, key_field: str, time_field: str) -> Position | None:
    """A record's place in change order, (its ``time_field``, its non-empty text
    ``key_field``), or None when either cannot be read."""
    if not isinstance(record, dict):
        return None
    key, moment = record.get(key_field), parse_timestamp(record.get(time_field))
    return (moment, key) if isinstance(key, str) and key and moment is not None else None


def encode_cursor(kind: str, **values: Any) -> str:
    """An opaque cursor: callers store and return it, never read it."""
    raw = json.dumps({"k": kind, **values}, separators=(",", ":"), sort_keys=True)
    return base64.urlsafe_b64encode(raw.encode()).decode().rstrip("=")


def decode_cursor(text: str, kind: str) -> dict[str, Any]:
    """The values of a cursor from :func:`encode_cursor` with the same ``kind``."""
    try:
        values = json.loads(base64.urlsafe_b64decode(text + "=" * (-len(text) % 4)))
    except (binascii.Error, ValueError):
        values = None
    if not isinstance(values, dict) or values.pop("k", None) != kind:
        raise InvalidQuery(f"{text[:40]!r} is not a {kind} cursor of this adapter; pass back "
                           "the cursor it returned, or None to start at the beginning.")
    return values


@dataclass(frozen=True)
class PositionCursor:
    """The change-detection cursor of an adapter: the (update time, key) position of the
    last change delivered, plus whatever else the adapter needs to resume (``extra``).

    ``key_field`` and ``key_type`` are the source's: "id" and int for Directus items, "sku"
    and str for products. The encoded form is stable: stored cursors keep working.
    """

    kind: str
    key_field: str
    key_type: type

    def encode(self, position: Position | None, **extra: Any) -> str:
        moment, key = position if position is not None else (None, None)
        return encode_cursor(self.kind, at=moment.isoformat() if moment else None,
                             **{self.key_field: key}, **extra)

    def decode(self, cursor: str, *, optional: bool = False) -> tuple[Position | None,
                                                                       dict[str, Any]]:
        """The position and the extra values; with ``optional`` a cursor may hold no
        position (``at`` and the key both null)."""
        values = decode_cursor(cursor, self.kind)
        at, key = values.pop("at", None), values.pop(self.key_field, None)
        moment = parse_timestamp(at)
        if moment is not None and isinstance(key, self.key_type) and key != "":
            return (moment, key), values
        if optional and at is None and key is None:
            return None, values
        raise InvalidQuery(f"{cursor[:40]!r} is not a change cursor of this adapter.")
