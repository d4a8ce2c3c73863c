"""The catalog consumer: entity change events of every tenant become catalog state.

For a batch of one tenant (the consumer runner opens the tenant's schema and one database
transaction around it): upsert the entities (versions only move forward), append the
event log, record the relationships the payloads name, record lineage (source → topic →
catalog), and publish `system.metadata.entity_registered` and
`system.lineage.relationship_created` through the outbox. Every write is one statement for
the whole batch.
"""

from __future__ import annotations

import re
import uuid
from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from opentelemetry import trace

from apps.catalog import services
from apps.catalog.contracts import (
    EntityKey,
    EntityRegistration,
    GraphEdge,
    Relationship,
    source_lineage_node,
)
from apps.events.services import OutgoingEvent, publish_events
from dictamesh.events import ENTITY_REGISTERED, RELATIONSHIP_CREATED, load_schema
from dictamesh.events.handlers import ConsumedEvent, PermanentError
from dictamesh.events.payload import PayloadError, parse_payload
from dictamesh.tenancy import current_schema

ENTITY_REGISTERED_TOPIC = "system.metadata.entity_registered"
RELATIONSHIP_CREATED_TOPIC = "system.lineage.relationship_created"
CATALOG_CONSUMER = "catalog consumer"

tracer = trace.get_tracer(__name__)


@dataclass(frozen=True)
class IngestResult:
    events: int
    entities_changed: int
    events_logged: int
    relationships_created: int


@dataclass(frozen=True)
class _Change:
    event: ConsumedEvent
    registration: EntityRegistration
    relationships: tuple[Relationship, ...]
    log_entry: dict[str, Any]


def _millis(value: Any) -> datetime:
    if isinstance(value, datetime):  # fastavro decodes timestamp-millis to datetime
        return value if value.tzinfo else value.replace(tzinfo=UTC)
    return datetime.fromtimestamp(int(value) / 1000, tz=UTC)


def _read_change(event: ConsumedEvent) -> _Change:
    """The catalog's view of one event; a PermanentError (→ dead-letter topic) if unusable."""
    record = event.record
    if record.get("tenant") != event.tenant:
        raise PermanentError(
            f"event says tenant {record.get('tenant')!r} but arrived on {event.topic!r}",
            event=event, reason="tenant_mismatch")
    try:
        payload = parse_payload(record.get("payload"))
    except PayloadError as exc:
        raise PermanentError(str(exc), event=event, reason="bad_payload") from None
    entity = record["entity"]
    happened_at = _millis(record["timestamp"])
    # Producers that do not know versions send 0; the change time then orders versions.
    version = entity["version"] or int(happened_at.timestamp() * 1000)
    key = EntityKey(entity["type"], entity["id"])
    registration = EntityRegistration(
        entity_type=key.entity_type, entity_id=key.entity_id, source_system=record["source"],
        version=version, attributes=payload.attributes, adapter=record["source"],
        deleted=record["event_type"] == "DELETED", source_updated_at=happened_at,
    )
    relationships = tuple(
        Relationship(
            EntityKey(rel.subject_type, rel.subject_id) if rel.subject_type and rel.subject_id
            else key,
            rel.relationship_type,
            EntityKey(rel.object_type, rel.object_id),
            source_system=record["source"],
        )
        for rel in payload.relationships
    )
    log_entry = {
        "event_id": event.event_id, "event_type": record["event_type"],
        "entity_type": key.entity_type, "entity_id": key.entity_id, "entity_version": version,
        "source_system": record["source"], "changed_fields": list(record["changed_fields"]),
        "payload": payload.attributes or None, "event_timestamp": happened_at,
        "topic": event.topic, "partition": event.partition, "offset": event.offset,
        "trace_id": _trace_id(event),
    }
    return _Change(event, registration, relationships, log_entry)


_TRACE_ID = re.compile(r"[0-9a-f]{32}")


def _trace_id(event: ConsumedEvent) -> str:
    """The trace id of a W3C ``traceparent`` header (version-traceid-spanid-flags); a
    malformed header is ignored, like OpenTelemetry's propagator ignores it."""
    for name, value in event.headers:
        if name == "traceparent":
            parts = value.decode("ascii", "replace").split("-")
            if len(parts) == 4 and _TRACE_ID.fullmatch(parts[1]) and parts[1] != "0" * 32:
                return parts[1]
            return ""
    return ""


def ingest_entity_changes(events: Sequence[ConsumedEvent]) -> IngestResult:
    with tracer.start_as_current_span(
            "catalog ingest", attributes={"messaging.batch.message_count": len(events)}) as span:
        result = _ingest(events)
        span.set_attributes({"dictamesh.catalog.entities_changed": result.entities_changed,
                             "dictamesh.catalog.relationships_created":
                                 result.relationships_created})
        return result


def _ingest(events: Sequence[ConsumedEvent]) -> IngestResult:
    changes = [_read_change(event) for event in events]
    outcomes = services.register_entities(c.registration for c in changes)
    logged = services.append_events([c.log_entry for c in changes])
    new_edges = services.record_relationships(
        rel for change in changes for rel in change.relationships)
    lineage: Counter[tuple[str, str, str]] = Counter()
    for change in changes:
        reg = change.registration
        lineage[(source_lineage_node(reg.source_system, reg.entity_type),
                 f"topic:{change.event.topic}", "change detection")] += 1
        lineage[(f"topic:{change.event.topic}", f"catalog:{reg.entity_type}",
                 CATALOG_CONSUMER)] += 1
    services.track_lineage_edges((*edge, seen) for edge, seen in lineage.items())

    applied = {outcome.key for outcome in outcomes}
    announce = _Announcer(current_schema())
    announcements = []
    for change in changes:
        if change.registration.key in applied:
            announcements.append(announce.registered(change.registration))
            applied.discard(change.registration.key)  # once per entity per batch
    announcements += [announce.relationship_created(edge) for edge in new_edges]
    publish_events(announcements)
    return IngestResult(len(events), len(outcomes), logged, len(new_edges))


def _reference(key: EntityKey, version: int = 0) -> dict[str, Any]:
    return {"type": key.entity_type, "id": key.entity_id, "version": version}


class _Announcer:
    """The catalog's own events about one batch (same tenant, same time)."""

    def __init__(self, tenant: str) -> None:
        self.tenant = tenant
        self.timestamp = int(datetime.now(tz=UTC).timestamp() * 1000)
        self._registered_schema = load_schema(ENTITY_REGISTERED)
        self._relationship_schema = load_schema(RELATIONSHIP_CREATED)

    def registered(self, registration: EntityRegistration) -> OutgoingEvent:
        return OutgoingEvent(ENTITY_REGISTERED_TOPIC, str(registration.key),
                             self._registered_schema, {
                                 "event_id": str(uuid.uuid4()), "timestamp": self.timestamp,
                                 "tenant": self.tenant,
                                 "entity": _reference(registration.key, registration.version),
                                 "source": registration.source_system,
                                 "adapter": registration.adapter,
                                 "schema_version": 1, "location": None,
                             })

    def relationship_created(self, edge: GraphEdge) -> OutgoingEvent:
        return OutgoingEvent(RELATIONSHIP_CREATED_TOPIC, str(edge.subject),
                             self._relationship_schema, {
                                 "event_id": str(uuid.uuid4()), "timestamp": self.timestamp,
                                 "tenant": self.tenant, "subject": _reference(edge.subject),
                                 "relationship_type": edge.relationship_type,
                                 "object": _reference(edge.object), "source": "catalog",
                                 "origin": edge.origin.upper(), "properties": None,
                             })
