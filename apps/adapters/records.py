"""Canonical entities as plain JSON records (what the caches and events carry) and back."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from apps.adapters.base import CanonicalEntity
from dictamesh.events.payload import PayloadRelationship


def entity_to_record(entity: CanonicalEntity) -> dict[str, Any]:
    return {
        "type": entity.type, "id": entity.id, "source": entity.source,
        "version": entity.version, "attributes": entity.attributes,
        "relationships": [
            [r.relationship_type, r.object_type, r.object_id, r.subject_type, r.subject_id]
            for r in entity.relationships
        ],
        "fetched_at": entity.fetched_at.isoformat(),
    }


def record_to_entity(record: dict[str, Any]) -> CanonicalEntity:
    return CanonicalEntity(
        type=record["type"], id=record["id"], source=record["source"],
        version=record["version"], attributes=record["attributes"],
        relationships=tuple(map(PayloadRelationship._make, record.get("relationships", ()))),
        fetched_at=datetime.fromisoformat(record["fetched_at"]),
    )
