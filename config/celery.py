"""The Celery application: the worker and beat process roles of the one image."""

from __future__ import annotations

import os

# Before anything that may read settings: `celery -A config worker` starts here.
os.environ.setdefault("DJANGO_SETTINGS_MODULE", "config.settings")

from celery import Celery  # noqa: E402
from celery.signals import setup_logging  # noqa: E402
from django.conf import settings  # noqa: E402

from dictamesh.tenancy import install_tenant_propagation  # noqa: E402

app = Celery("dictamesh")
install_tenant_propagation(app)
app.config_from_object("django.conf:settings", namespace="CELERY")
app.autodiscover_tasks()


@setup_logging.connect
def _platform_logging(**_: object) -> None:
    """Worker and beat log through Django's LOGGING (JSON lines with tenant and trace id):
    with a receiver here Celery installs no handlers of its own on the root logger."""
    import logging.config

    logging.config.dictConfig(settings.LOGGING)
    logging.captureWarnings(True)  # Python warnings as log lines, not bare stderr text


# The consumer groups of KAFKA_WORKER_CONSUMER_GROUPS, one thread each; named by path so
# that they are imported once the worker has set Django up.
app.steps["worker"].add("apps.events.consumer_worker:KafkaConsumersStep")
# The outbox relay thread (apps/events/relay_worker.py says why a thread); named by path
# so that it is imported once the worker has set Django up.
app.steps["worker"].add("apps.events.relay_worker:OutboxRelayStep")
app.steps["worker"].add("dictamesh.observability.worker_metrics:WorkerMetricsStep")

# Periodic tasks, all scheduled here.
app.conf.beat_schedule = {
    # Every tenant's retention policy (event log, sent outbox rows, dedupe records); it
    # replaces the events.purge_* tasks, which knew only the platform defaults.
    "catalog.apply_retention": {"task": "catalog.apply_retention", "schedule": 3600.0},
    # Each connection has its own interval; this only finds the ones that are due.
    "adapters.poll_due_sources": {"task": "adapters.poll_due_sources", "schedule": 5.0},
    "adapters.check_sources_health": {"task": "adapters.check_sources_health",
                                      "schedule": 30.0},
    # A full listing per source: hourly is plenty for deletions nobody reported.
    "adapters.reconcile_sources": {"task": "adapters.reconcile_sources", "schedule": 3600.0},
    # Sagas whose step passed its deadline (a worker died mid-step): resumed from their row.
    "sagas.recover_overdue": {"task": "sagas.recover_overdue",
                              "schedule": settings.SAGA_RECOVERY_INTERVAL_SECONDS},
}
