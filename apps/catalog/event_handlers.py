"""The catalog's consumer group: every tenant's entity change topics."""

from __future__ import annotations

from collections.abc import Sequence

from apps.catalog.ingest import ingest_entity_changes
from dictamesh.events.handlers import ConsumedEvent, handles

CATALOG_GROUP = "catalog"


@handles(CATALOG_GROUP, "*.entity_changed")
def apply_entity_changes(events: Sequence[ConsumedEvent]) -> None:
    ingest_entity_changes(events)
