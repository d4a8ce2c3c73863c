"""Entity changes invalidate what the GraphQL API serves from caches.

For each changed entity type: its response-cache generation moves on (so every cached
answer that read that type is unreachable, in O(1), see `cache.py`), and the data
product's cache entries of the changed ids are evicted (L1 here, in other processes through
the invalidation bus, and L2), so the next request reads the source.
"""

from __future__ import annotations

from collections.abc import Sequence

from django.db import transaction
from opentelemetry import trace

from apps.adapters.services import DataProduct, data_products
from apps.federation import cache
from dictamesh.events.handlers import ConsumedEvent

tracer = trace.get_tracer(__name__)


def changed_entities(events: Sequence[ConsumedEvent]) -> dict[str, list[str]]:
    """Entity ids by type, as the change events name them."""
    changed: dict[str, set[str]] = {}
    for event in events:
        entity = event.record.get("entity") or {}
        if entity.get("type") and entity.get("id"):
            changed.setdefault(str(entity["type"]), set()).add(str(entity["id"]))
    return {entity_type: sorted(ids) for entity_type, ids in changed.items()}


def invalidate(changed: dict[str, list[str]]) -> None:
    """Bump the response cache's generations and evict the data products' entries."""
    if not changed:
        return
    with tracer.start_as_current_span("cache invalidation", attributes={
            "dictamesh.entity_types": sorted(changed),
            "dictamesh.entity_count": sum(len(ids) for ids in changed.values())}):
        cache.bump(changed)
        serving: dict[str, DataProduct] = {}  # one look at the sources for the whole batch
        for data_product in reversed(data_products()):  # the first source of a type wins
            serving.update(dict.fromkeys(data_product.adapter.entity_types, data_product))
        for entity_type, ids in changed.items():
            if entity_type in serving:  # not e.g. invoice_item: served inside its invoice
                serving[entity_type].invalidate(entity_type, ids)


def invalidate_on_commit(events: Sequence[ConsumedEvent]) -> None:
    """Invalidate once the consumer's transaction commits: catalog answers (graph, event
    log) read what that transaction writes, and a request between a bump and the commit
    would cache the old answer under the new generation."""
    changed = changed_entities(events)
    transaction.on_commit(lambda: invalidate(changed))
