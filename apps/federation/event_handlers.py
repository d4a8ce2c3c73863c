"""The federation app's part of the catalog consumer group: GraphQL cache invalidation.

It rides the catalog group (same topics, same worker thread, same per-event dedupe)
rather than a group of its own, so no extra consumer and no extra setting are needed; the
invalidation runs after the catalog's transaction commits (see `invalidation.py`).
"""

from __future__ import annotations

from collections.abc import Sequence

from apps.catalog.event_handlers import CATALOG_GROUP
from apps.federation.invalidation import invalidate_on_commit
from dictamesh.events.handlers import ConsumedEvent, handles


@handles(CATALOG_GROUP, "*.entity_changed")
def invalidate_graphql_caches(events: Sequence[ConsumedEvent]) -> None:
    invalidate_on_commit(events)
