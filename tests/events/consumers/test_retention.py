"""Consumer dedupe records do not grow for ever."""

from __future__ import annotations

import uuid
from datetime import timedelta

from django.utils import timezone
from django_tenants.utils import schema_context

from apps.events.models import ProcessedEvent
from apps.events.tasks import purge_processed_events


def test_old_dedupe_records_are_purged_recent_ones_kept(tenants_committed, settings):
    settings.KAFKA_PROCESSED_EVENTS_RETENTION_DAYS = 30
    tenant = tenants_committed[0].schema_name
    with schema_context(tenant):
        old, recent = (ProcessedEvent.objects.create(
            consumer_group="catalog", event_id=uuid.uuid4(), topic="t", partition=0,
            offset=n) for n in range(2))
        ProcessedEvent.objects.filter(pk=old.pk).update(
            processed_at=timezone.now() - timedelta(days=31))

    assert purge_processed_events()[tenant] == 1
    with schema_context(tenant):
        assert list(ProcessedEvent.objects.values_list("pk", flat=True)) == [recent.pk]
