"""The catalog's handler of the ``catalog`` consumer group (see EVENT_HANDLERS in the
settings): every tenant's entity change events become catalog state."""

from __future__ import annotations

from collections.abc import Sequence

from apps.catalog.event_validation import check_entity_change
from apps.catalog.ingest import ingest_entity_changes
from dictamesh.events.handlers import ConsumedEvent, validated_by


@validated_by(check_entity_change)
def apply_entity_changes(events: Sequence[ConsumedEvent]) -> None:
    ingest_entity_changes(events)
