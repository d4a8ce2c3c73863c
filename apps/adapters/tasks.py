"""Celery tasks of the adapters app: polling sources and checking their health.

Beat runs the fan-out tasks in the public schema; they enqueue one task per due connection
inside its tenant's context, so each poll runs in its tenant's schema on any worker.
"""

from __future__ import annotations

from datetime import timedelta

from celery import shared_task
from django.core.cache import cache
from django.db.models import DateTimeField, ExpressionWrapper, F, Q, Value
from django.utils import timezone

from apps.adapters import services
from apps.adapters.changes import poll, reconcile_deletions
from apps.adapters.models import SourceConnection
from apps.adapters.service_levels import prune_observations
from apps.tenancy.services import tenant_schemas
from dictamesh.observability.logging import get_logger
from dictamesh.tenancy import tenant_context

log = get_logger(__name__)
POLL_LOCK_SECONDS = 300  # a poll that takes longer than this is presumed dead


@shared_task(name="adapters.poll_due_sources", ignore_result=True)
def poll_due_sources() -> int:
    """Enqueue a poll for every enabled connection whose interval has passed."""
    enqueued = 0
    now = timezone.now()
    for schema in tenant_schemas():
        with tenant_context(schema):
            due = SourceConnection.objects.filter(enabled=True).annotate(
                due_at=ExpressionWrapper(F("last_polled_at") + F("polling_interval_seconds")
                                         * Value(timedelta(seconds=1)),
                                         output_field=DateTimeField())
            ).filter(Q(last_polled_at__isnull=True) | Q(due_at__lte=now)
                     ).values_list("name", flat=True)
            for name in due:
                poll_source.delay(name)
                enqueued += 1
    return enqueued


@shared_task(name="adapters.poll_source", ignore_result=True, acks_late=True)
def poll_source(name: str) -> None:
    """Poll one connection of the current tenant; overlapping polls of it are skipped."""
    lock = f"poll-lock:{name}"  # the cache key function prefixes the tenant schema
    if not cache.add(lock, 1, timeout=POLL_LOCK_SECONDS):
        return
    try:
        result = poll(services.data_product_named(name))
        log.info("source polled", connection=name, changes=result.changes,
                 batches=result.batches, error=result.error or None)
    finally:
        cache.delete(lock)


@shared_task(name="adapters.check_sources_health", ignore_result=True)
def check_sources_health() -> None:
    for schema in tenant_schemas():
        with tenant_context(schema):
            for data_product in services.data_products():
                data_product.check_health()
            prune_observations()  # the health sweep runs often enough to bound the table


@shared_task(name="adapters.reconcile_sources", ignore_result=True)
def reconcile_sources() -> None:
    """Find deletions the sources did not report, connection by connection."""
    for schema in tenant_schemas():
        with tenant_context(schema):
            for data_product in services.data_products():
                result = reconcile_deletions(data_product)
                log.info("source reconciled", connection=result.connection,
                         listed=result.listed, deleted=result.deleted,
                         skipped=result.skipped or None)
