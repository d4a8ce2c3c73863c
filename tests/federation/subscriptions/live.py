"""Live messages as the `live` consumer group builds them, for tests that feed the channel
layer directly (the socket side); test_end_to_end.py goes through Kafka instead."""

from __future__ import annotations

import asyncio
import json
import uuid
from datetime import UTC, datetime
from typing import Any

from apps.federation.subscriptions.event_handlers import publish
from apps.federation.subscriptions.messages import live_messages
from dictamesh.events.handlers import ConsumedEvent

#: as fastavro decodes the schemas' timestamp-millis
CHANGED_AT = datetime(2026, 9, 21, 12, 0, tzinfo=UTC)


def entity_event(tenant: str, entity_type: str, entity_id: str, attributes: dict[str, Any],
                 changed: list[str], event_type: str = "UPDATED",
                 record_tenant: str | None = None) -> ConsumedEvent:
    event_id = uuid.uuid4()
    record = {
        "event_id": str(event_id), "event_type": event_type, "timestamp": CHANGED_AT,
        "entity": {"type": entity_type, "id": entity_id, "version": 7},
        "tenant": record_tenant or tenant, "source": "directus", "changed_fields": changed,
        "payload": None if event_type == "DELETED" else json.dumps({"attributes": attributes}),
    }
    return ConsumedEvent(topic=f"{tenant}.customers.directus.entity_changed", partition=0,
                         offset=0, key=entity_id.encode(), headers=(), timestamp_ms=0,
                         tenant=tenant, event_id=event_id, schema_id=1,
                         record=record, value=b"")


def relationship_event(tenant: str, subject: dict[str, str], object_: dict[str, str],
                       relationship_type: str = "billed_to") -> ConsumedEvent:
    """A `system.lineage.relationship_created` event as the catalog publishes it."""
    event_id = uuid.uuid4()
    record = {"event_id": str(event_id), "timestamp": CHANGED_AT, "tenant": tenant,
              "subject": {**subject, "version": 0}, "object": {**object_, "version": 0},
              "relationship_type": relationship_type, "source": "catalog",
              "origin": "MANUAL", "properties": None}
    return ConsumedEvent(topic=f"{tenant}.system.lineage.relationship_created", partition=0,
                         offset=0, key=subject["id"].encode(), headers=(), timestamp_ms=0,
                         tenant=tenant, event_id=event_id, schema_id=1, record=record,
                         value=b"")


async def publish_events(*events: ConsumedEvent) -> None:
    """What the handler does once its transaction commits, from a thread of its own."""
    await asyncio.to_thread(publish, list(live_messages(events)))
