"""Prometheus metrics of a Celery worker process, on a port of its own.

The outbox relay and the Kafka consumers run as threads of the worker's main process, so
their gauges and counters (backlog, lag, dead letters) live there, not in the web
process that serves /metrics. Task-level metrics of prefork children stay in each child;
run the worker with `--pool threads` or the consumers with `manage.py consume` where
those matter.
"""

from __future__ import annotations

from typing import Any
from wsgiref.simple_server import WSGIServer

from celery import bootsteps
from django.conf import settings
from prometheus_client import start_http_server

from dictamesh.observability.logging import get_logger

log = get_logger(__name__)


class WorkerMetricsStep(bootsteps.StartStopStep):
    """Serves /metrics on WORKER_METRICS_PORT (0: off) while the worker runs."""

    label = "Prometheus metrics"

    def __init__(self, parent: Any, **kwargs: Any) -> None:
        super().__init__(parent, **kwargs)
        self.server: WSGIServer | None = None

    def include_if(self, parent: Any) -> bool:
        return int(settings.WORKER_METRICS_PORT) > 0

    def start(self, parent: Any) -> None:
        port = int(settings.WORKER_METRICS_PORT)
        try:
            self.server, _ = start_http_server(port, addr=settings.WORKER_METRICS_ADDR)
        except OSError as exc:  # a second worker on the host: metrics off, tasks still run
            log.warning("worker metrics port is taken; metrics not served", port=port,
                        error=str(exc), hint="give each worker its own WORKER_METRICS_PORT")
            return
        log.info("worker metrics served", port=port)

    def stop(self, parent: Any) -> None:
        if self.server is not None:
            self.server.shutdown()
            self.server.server_close()
            self.server = None
