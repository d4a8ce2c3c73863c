"""The federation app's handler in the ``catalog`` consumer group: GraphQL cache invalidation.

It rides the catalog group (same topics, same worker thread, same per-event dedupe; see
EVENT_HANDLERS in the settings) rather than a group of its own, so no extra consumer is
needed; the invalidation runs after the catalog's transaction commits (see
`invalidation.py`).
"""

from __future__ import annotations

from collections.abc import Sequence

from apps.federation.invalidation import invalidate_on_commit
from dictamesh.events.handlers import ConsumedEvent


def invalidate_graphql_caches(events: Sequence[ConsumedEvent]) -> None:
    invalidate_on_commit(events)
