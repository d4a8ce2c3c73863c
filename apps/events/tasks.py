"""The events app's periodic housekeeping, tenant by tenant (scheduled in config/celery.py).

Task names start with their app's label; these were ``catalog.*`` while the catalog held the
outbox.
"""

from __future__ import annotations

from datetime import timedelta

from celery import shared_task
from django.conf import settings

from apps.events.consumers import purge_processed
from apps.events.outbox import purge_sent
from apps.tenancy.services import tenant_schemas
from dictamesh.tenancy import tenant_context


@shared_task(name="events.purge_sent_outbox", acks_late=True, ignore_result=True,
             expires=3600)
def purge_sent_outbox() -> dict[str, int]:
    """Delete sent outbox rows older than OUTBOX_SENT_RETENTION_DAYS, tenant by tenant."""
    older_than = timedelta(days=settings.OUTBOX_SENT_RETENTION_DAYS)
    deleted: dict[str, int] = {}
    for schema in tenant_schemas():
        with tenant_context(schema):
            deleted[schema] = purge_sent(older_than)
    return deleted


@shared_task(name="events.purge_processed_events", acks_late=True, ignore_result=True,
             expires=3600)
def purge_processed_events() -> dict[str, int]:
    """Forget consumer dedupe records older than KAFKA_PROCESSED_EVENTS_RETENTION_DAYS.

    Redelivery only happens within a topic's retention, so dedupe rows older than the
    longest retention (plus replay headroom) can never match again.
    """
    older_than = timedelta(days=settings.KAFKA_PROCESSED_EVENTS_RETENTION_DAYS)
    deleted: dict[str, int] = {}
    for schema in tenant_schemas():
        with tenant_context(schema):
            deleted[schema] = purge_processed(older_than)
    return deleted
