"""Change detection: what a source reports becomes entity change events through the outbox.

Polling (Celery beat, each connection on its interval) and webhooks both end in
``apply_changes``: in ONE database transaction the tenant's L3 cache gets the new records
and the outbox gets one EntityChangeEvent per change; upper cache levels are invalidated
once that transaction commits. The cursor is saved in the same transaction, so a crash
between fetching and storing repeats the batch (consumers dedupe) and never loses it.

A failed or partial poll never reads as deletion: deletions come from a source that says
so (a webhook, an adapter that reports them) or from ``reconcile_deletions``, which
compares a complete id listing, read while the source is healthy, with what the cache
knows. Sources whose listings do not report deletions (Directus) get that sweep every
``deletion_check_every_polls`` successful polls (a connection option, by default
``SourceConnection.DEFAULT_DELETION_CHECK_EVERY``; 0 turns it off), so a deletion shows
within that many polling intervals; the hourly reconcile task backs it up.
"""

from __future__ import annotations

import uuid
from collections.abc import Sequence
from dataclasses import dataclass
from functools import partial
from typing import Any

from django.core.cache import cache
from django.db import transaction
from django.utils import timezone

from apps.adapters.base import (
    AdapterError,
    ChangeBatch,
    ChangeType,
    SourceChange,
)
from apps.adapters.error_text import without_queries
from apps.adapters.models import ObservationKind, SourceConnection
from apps.adapters.records import entity_to_record
from apps.adapters.service_levels import record_observation
from apps.adapters.services import DataProduct
from apps.catalog import services as catalog_services
from apps.events.services import OutgoingEvent, publish_events
from dictamesh.cache import StoredEntry
from dictamesh.events import ENTITY_CHANGE_EVENT, load_schema
from dictamesh.events.payload import build_payload
from dictamesh.events.topics import topic_name
from dictamesh.health.redact import redact_userinfo
from dictamesh.resilience import CircuitOpenError
from dictamesh.tenancy import current_schema


@dataclass(frozen=True)
class PollResult:
    connection: str
    changes: int = 0
    batches: int = 0
    skipped: str = ""  # why nothing was polled (circuit open, already polling)
    error: str = ""
    sweep: ReconcileResult | None = None  # the deletion sweep this poll ran, if any


def _changed_fields(previous: dict[str, Any] | None, current: dict[str, Any]) -> list[str]:
    if previous is None:
        return sorted(current)
    keys = set(previous) | set(current)
    return sorted(k for k in keys if previous.get(k) != current.get(k))


def apply_changes(data_product: DataProduct, changes: Sequence[SourceChange]) -> int:
    """Publish ``changes`` and refresh the L3 cache, in the caller's transaction."""
    if not changes:
        return 0
    adapter = data_product.adapter
    topic = topic_name(adapter.domain, adapter.name, "entity_changed")
    store = catalog_services.l3_cache_store()
    events: list[OutgoingEvent] = []
    by_type: dict[str, list[SourceChange]] = {}
    for change in changes:
        by_type.setdefault(change.entity_type, []).append(change)
    for entity_type, typed in by_type.items():
        ids = [c.entity_id for c in typed]
        previous = {i: e.value.get("attributes") for i, e in store.get_many(entity_type,
                                                                             ids).items()}
        fresh: dict[str, StoredEntry] = {}
        for change in typed:
            entity = change.entity
            attributes = entity.attributes if entity else {}
            events.append(OutgoingEvent(topic, change.entity_id, load_schema(ENTITY_CHANGE_EVENT), {
                "event_id": str(uuid.uuid4()), "event_type": change.change_type.value,
                "timestamp": change.occurred_at, "tenant": current_schema(),
                "entity": {"type": entity_type, "id": change.entity_id,
                           "version": entity.version if entity else 0},
                "source": adapter.name,
                "changed_fields": list(change.changed_fields)
                or ([] if change.change_type == ChangeType.DELETED
                    else _changed_fields(previous.get(change.entity_id), attributes)),
                "payload": None if entity is None
                else build_payload(attributes, entity.relationships),
            }))
            if entity is not None:
                fresh[change.entity_id] = StoredEntry(entity_to_record(entity),
                                                      entity.fetched_at)
        store.put_many(entity_type, fresh)
        gone = [c.entity_id for c in typed if c.change_type == ChangeType.DELETED]
        if gone:
            store.delete(entity_type, gone)
        transaction.on_commit(partial(data_product.invalidate, entity_type, ids))
    publish_events(events)
    return len(events)


def _next_batch(data_product: DataProduct, cursor: str | None) -> ChangeBatch | None:
    """One batch after ``cursor``, fetched in one breaker-guarded, retried call."""
    return data_product.call(
        "stream_changes", lambda: next(iter(data_product.adapter.stream_changes(cursor)), None))


def poll(data_product: DataProduct, max_batches: int = 50) -> PollResult:
    """Fetch changes since the connection's cursor and apply them, batch by batch."""
    connection = data_product.connection
    cursor = SourceConnection.objects.values_list("change_cursor", flat=True).get(
        pk=connection.pk) or None
    batches = changes = 0
    try:
        while batches < max_batches:
            batch = _next_batch(data_product, cursor)
            if batch is None:
                break
            with transaction.atomic():
                changes += apply_changes(data_product, batch.changes)
                cursor = batch.cursor or cursor
                SourceConnection.objects.filter(pk=connection.pk).update(
                    change_cursor=cursor or "")
            batches += 1
            if batch.complete:
                break
    except (AdapterError, CircuitOpenError) as exc:  # the cursor holds: retried next poll
        error = redact_userinfo(without_queries(f"{type(exc).__name__}: {exc}"))
        SourceConnection.objects.filter(pk=connection.pk).update(
            last_polled_at=timezone.now(), last_poll_error=error)
        record_observation(connection, ObservationKind.POLL, ok=False, detail=error)
        return PollResult(connection.name, changes, batches, error=str(exc))
    SourceConnection.objects.filter(pk=connection.pk).update(
        last_polled_at=timezone.now(), last_poll_error="")
    record_observation(connection, ObservationKind.POLL, ok=True)
    return PollResult(connection.name, changes, batches, sweep=_sweep_if_due(data_product))


def _sweep_if_due(data_product: DataProduct) -> ReconcileResult | None:
    """The deletion sweep, when this successful poll is the connection's N-th since the
    last completed one. The count lives in the cache (per tenant): lost, it starts again,
    delaying one sweep by at most N polls. A sweep that could not run (source failing)
    leaves the count due, so the next successful poll tries again."""
    every = data_product.connection.deletion_check_every
    if not every:
        return None
    key = f"deletion-sweep:{data_product.connection.pk}"  # the cache prefixes the tenant
    cache.add(key, 0, timeout=None)
    if cache.incr(key) < every:
        return None
    result = reconcile_deletions(data_product)
    if not result.skipped:
        cache.set(key, 0, timeout=None)
    return result


@dataclass(frozen=True)
class ReconcileResult:
    connection: str
    listed: int = 0
    deleted: int = 0
    skipped: str = ""  # why nothing was compared (circuit not closed, listing failed)


def reconcile_deletions(data_product: DataProduct) -> ReconcileResult:
    """Find entities the source no longer has, for sources that do not report deletions:
    the adapter's id listing (cheap where the API allows) against the cache's ids.

    Only a complete listing, read while the connection's breaker is closed, may say an
    entity is gone: any failed or partial read stops the sweep with nothing deleted.
    """
    name = data_product.name
    if data_product.breaker.status().state != "closed":
        return ReconcileResult(name, skipped="circuit not closed")
    store = catalog_services.l3_cache_store()
    deletions: list[SourceChange] = []
    listed = 0
    for entity_type in data_product.adapter.entity_types:
        try:
            listing = data_product.call("list_ids", data_product.adapter.list_ids, entity_type)
        except (AdapterError, CircuitOpenError) as exc:
            return ReconcileResult(name, listed, skipped=f"listing failed: {exc}")
        if not listing.complete:
            return ReconcileResult(name, listed, skipped="listing did not end")
        present = listing.ids
        listed += len(present)
        known = store.known_ids(entity_type, source_system=name)
        now = timezone.now()
        deletions += [SourceChange(ChangeType.DELETED, entity_type, entity_id, None, now)
                      for entity_id in sorted(known - present)]
    with transaction.atomic():
        deleted = apply_changes(data_product, deletions)
    return ReconcileResult(name, listed, deleted)
