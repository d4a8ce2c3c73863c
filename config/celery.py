"""The Celery application: the worker and beat process roles of the one image."""

from __future__ import annotations

import os
from typing import Any

# Before anything that may read settings: `celery -A config worker` starts here.
os.environ.setdefault("DJANGO_SETTINGS_MODULE", "config.settings")

from celery import Celery, bootsteps  # noqa: E402
from django.conf import settings  # noqa: E402

from dictamesh.tenancy import install_tenant_propagation  # noqa: E402

app = Celery("dictamesh")
install_tenant_propagation(app)
app.config_from_object("django.conf:settings", namespace="CELERY")
app.autodiscover_tasks()


class KafkaConsumersStep(bootsteps.StartStopStep):
    """Runs the consumer groups of KAFKA_WORKER_CONSUMER_GROUPS in worker threads; they
    finish their batch and commit on warm shutdown. Empty the setting to run none."""

    requires = ("celery.worker.components:Pool",)  # start once the pool has forked

    def create(self, parent: Any) -> Any:
        if not settings.KAFKA_WORKER_CONSUMER_GROUPS:
            return None
        # Imported here: this module loads before Django is set up; the worker sets it up
        # before it creates its steps.
        from apps.catalog.consumers import ConsumerThreads

        return ConsumerThreads(settings.KAFKA_WORKER_CONSUMER_GROUPS)


app.steps["worker"].add(KafkaConsumersStep)
# The outbox relay thread (apps/catalog/tasks.py says why a thread); named by path so
# that it is imported once the worker has set Django up.
app.steps["worker"].add("apps.catalog.tasks:OutboxRelayStep")

# Periodic tasks, all scheduled here.
app.conf.beat_schedule = {
    "catalog.purge_sent_outbox": {"task": "catalog.purge_sent_outbox", "schedule": 3600.0},
}
