"""What the `live` consumer group sends over the channel layer, and to which group.

Fan-out is per tenant and kind: a socket joins only the groups of what it subscribed to
(`live.<tenant>.entity.<type>`, `live.<tenant>.saga`, `live.<tenant>.relationship`), so
an event never reaches another tenant's sockets, and an entity type nobody follows costs
one Redis call per batch. A message is a plain dict (msgpack on the wire): the event's
facts, never a rendered answer - each subscriber's selection is executed in its process.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Iterator
from datetime import UTC, datetime
from typing import Any

from dictamesh.events.handlers import ConsumedEvent
from dictamesh.events.payload import PayloadError, parse_payload

#: the consumer method (``type`` with dots as underscores) that receives live messages
MESSAGE_TYPE = "live.event"
ENTITY, SAGA, RELATIONSHIP = "entity", "saga", "relationship"
# Channel layer group names allow letters, digits, ``-_.`` and fewer than 100 characters.
_UNSAFE = re.compile(r"[^a-zA-Z0-9_-]")


def _part(value: str) -> str:
    return _UNSAFE.sub("-", value)[:40]


def entity_group(tenant: str, entity_type: str) -> str:
    return f"live.{_part(tenant)}.{ENTITY}.{_part(entity_type)}"


def saga_group(tenant: str) -> str:
    return f"live.{_part(tenant)}.{SAGA}"


def relationship_group(tenant: str) -> str:
    return f"live.{_part(tenant)}.{RELATIONSHIP}"


def _timestamp_ms(event: ConsumedEvent) -> int:
    """The event's time in epoch milliseconds: fastavro decodes the schemas'
    timestamp-millis to an aware datetime; a record built by hand may hold the number."""
    value = event.record.get("timestamp")
    if isinstance(value, datetime):
        moment = value if value.tzinfo else value.replace(tzinfo=UTC)
        return int(moment.timestamp() * 1000)
    return int(value) if value is not None else event.timestamp_ms


def _reference(value: Any) -> dict[str, str]:
    return {"type": str(value.get("type", "")), "id": str(value.get("id", ""))}


def _entity_message(event: ConsumedEvent) -> tuple[str, dict[str, Any]] | None:
    record = event.record
    entity = record.get("entity") or {}
    if not entity.get("type") or not entity.get("id"):
        return None
    deleted = record.get("event_type") == "DELETED"
    try:
        attributes = parse_payload(record.get("payload")).attributes
    except PayloadError:
        return None  # the catalog group dead-letters it; subscribers get nothing half-read
    return entity_group(event.tenant, str(entity["type"])), {
        "kind": ENTITY, "event_id": str(event.event_id), "tenant": event.tenant,
        "entity_type": str(entity["type"]), "entity_id": str(entity["id"]),
        "version": int(entity.get("version") or 0), "source": str(record.get("source", "")),
        "change": str(record.get("event_type", "")), "deleted": deleted,
        "changed_fields": [str(name) for name in record.get("changed_fields") or ()],
        "attributes": None if deleted else attributes,
        "timestamp_ms": _timestamp_ms(event),
    }


def _saga_message(event: ConsumedEvent) -> tuple[str, dict[str, Any]]:
    record = event.record
    return saga_group(event.tenant), {
        "kind": SAGA, "event_id": str(event.event_id), "tenant": event.tenant,
        "saga_id": str(record.get("saga_id", "")), "to_state": record.get("to_state"),
        "timestamp_ms": _timestamp_ms(event),
    }


def _relationship_message(event: ConsumedEvent) -> tuple[str, dict[str, Any]]:
    record = event.record
    return relationship_group(event.tenant), {
        "kind": RELATIONSHIP, "event_id": str(event.event_id), "tenant": event.tenant,
        "subject": _reference(record.get("subject") or {}),
        "object": _reference(record.get("object") or {}),
        "relationship_type": str(record.get("relationship_type", "")),
        "origin": str(record.get("origin", "")),
        "timestamp_ms": _timestamp_ms(event),
    }


def live_messages(events: Iterable[ConsumedEvent]) -> Iterator[tuple[str, dict[str, Any]]]:
    """(group, message) for each event that subscribers can follow, in event order. An
    event whose tenant field disagrees with its topic's tenant is left out: delivery goes
    by the topic's tenant, and a forged field must not pick another tenant's group."""
    for event in events:
        if event.record.get("tenant") != event.tenant:
            continue
        event_type = event.topic.rsplit(".", 1)[-1]
        if event_type == "entity_changed":
            found = _entity_message(event)
            if found is not None:
                yield found
        elif event_type == "state_changed":
            yield _saga_message(event)
        elif event_type == "relationship_created":
            yield _relationship_message(event)
