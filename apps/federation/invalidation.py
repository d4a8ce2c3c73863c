"""Entity changes invalidate what the GraphQL API serves from caches.

For each changed entity type: its response-cache generation moves on (so every cached
answer that read that type is unreachable, in O(1), see `cache.py`), the data product's
cache entries of the changed ids are evicted (L1 here, in other processes through the
invalidation bus, and L2), and so are the cached filtered lists the change can alter (a
customer's invoices: the lists that held a changed invoice, and the list its customer id
now puts it in), so the next request reads the source. Outdated copies stay at L3, marked
invalidated, for a source outage.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

from django.db import transaction
from opentelemetry import trace

from apps.adapters.services import DataProduct, data_products
from apps.federation import cache
from dictamesh.events.handlers import ConsumedEvent
from dictamesh.events.payload import PayloadError, parse_payload

tracer = trace.get_tracer(__name__)

#: id -> the entity's attributes after the change (None: deleted, or not in the event)
Changes = dict[str, dict[str, Any] | None]


def changed_entities(events: Sequence[ConsumedEvent]) -> dict[str, list[str]]:
    """Entity ids by type, as the change events name them."""
    return {entity_type: sorted(changes)
            for entity_type, changes in changes_of(events).items()}


def changes_of(events: Sequence[ConsumedEvent]) -> dict[str, Changes]:
    """Each changed entity's attributes after the change, by type and id (the latest event
    of an entity wins)."""
    changed: dict[str, Changes] = {}
    for event in events:
        entity = event.record.get("entity") or {}
        if entity.get("type") and entity.get("id"):
            try:
                attributes = parse_payload(event.record.get("payload")).attributes or None
            except PayloadError:  # the catalog dead-letters it; still forget the entity
                attributes = None
            changed.setdefault(str(entity["type"]), {})[str(entity["id"])] = attributes
    return changed


def invalidate(changed: Mapping[str, Sequence[str] | Mapping[str, Any]]) -> None:
    """Bump the response cache's generations and evict the data products' entries and the
    lists the changes can alter (``changed``: ids by type, or :func:`changes_of`)."""
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
            server = serving.get(entity_type)
            if server is None:  # e.g. invoice_item: served inside its invoice
                continue
            server.invalidate(entity_type, list(ids))
            changes = ids if isinstance(ids, Mapping) else dict.fromkeys(ids)
            server.invalidate_lists(entity_type, changes)


def invalidate_on_commit(events: Sequence[ConsumedEvent]) -> None:
    """Invalidate once the consumer's transaction commits: catalog answers (graph, event
    log) read what that transaction writes, and a request between a bump and the commit
    would cache the old answer under the new generation."""
    changed = changes_of(events)
    transaction.on_commit(lambda: invalidate(changed))
