"""The catalog's handler of the ``catalog`` consumer group (see EVENT_HANDLERS in the
settings): every tenant's entity change events become catalog state."""

from __future__ import annotations

from collections.abc import Sequence

from apps.catalog.ingest import ingest_entity_changes
from dictamesh.events.handlers import ConsumedEvent


def apply_entity_changes(events: Sequence[ConsumedEvent]) -> None:
    ingest_entity_changes(events)
