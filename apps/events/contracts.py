"""What other apps hand to the events app and get back from it: plain values and errors."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any


class OutboxError(Exception):
    """An event was refused by the outbox; the message says why and what to do."""


@dataclass(frozen=True)
class OutgoingEvent:
    """An Avro record to publish: ``topic`` without the tenant prefix, ``key`` the entity id."""

    topic: str
    key: str
    schema: dict[str, Any]
    record: dict[str, Any]
    headers: Mapping[str, str] | None = None
