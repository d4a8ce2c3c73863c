"""Beat's fan-out finds the connections that are due and polls each in its tenant."""

from __future__ import annotations

import time
from datetime import timedelta

from django.utils import timezone
from django_tenants.utils import schema_context

from apps.adapters.models import SourceConnection
from apps.adapters.tasks import poll_due_sources, poll_source
from apps.events.models import OutboxMessage
from config.celery import app


def test_only_due_connections_are_polled(connected_committed, celery_worker):
    tenant = connected_committed
    with schema_context(tenant):
        SourceConnection.objects.update(last_polled_at=timezone.now(),
                                        polling_interval_seconds=3600)
        SourceConnection.objects.filter(name="customers").update(
            last_polled_at=timezone.now() - timedelta(hours=2))

    assert poll_due_sources() == 1  # only customers is due; enqueued for the worker

    def polled() -> bool:
        with schema_context(tenant):
            return OutboxMessage.objects.filter(topic__endswith="customers.directus."
                                                "entity_changed").count() == 50
    deadline = timezone.now() + timedelta(seconds=60)
    while not polled() and timezone.now() < deadline:
        time.sleep(0.2)
    assert polled()
    with schema_context(tenant):
        assert not OutboxMessage.objects.filter(topic__contains="products").exists()


def test_the_schedule_names_the_polling_tasks():
    scheduled = {entry["task"] for entry in app.conf.beat_schedule.values()}
    assert {"adapters.poll_due_sources", "adapters.check_sources_health"} <= scheduled
    assert poll_source.name in app.tasks
