"""GET /metrics: the Prometheus exposition, on the public host only.

Metrics carry every tenant's labels (sources, consumer groups, sagas), so a tenant's host
answers 404; with METRICS_BEARER_TOKEN set, the scraper must also send
``Authorization: Bearer <token>``. The worker serves its own on WORKER_METRICS_PORT.

Under gunicorn (``config/gunicorn.py``) every worker writes its samples to
PROMETHEUS_MULTIPROC_DIR and a scrape reads them all, whichever worker answers: counters
no longer jump between workers' values. Without that directory (runserver, tests) the
process' own registry is served.
"""

from __future__ import annotations

import hmac
import os
from collections.abc import Iterable

import prometheus_client
from django.conf import settings
from django.http import HttpRequest, HttpResponse
from prometheus_client import CollectorRegistry, multiprocess
from prometheus_client.metrics_core import Metric
from prometheus_client.registry import Collector

from dictamesh.observability.db_collector import PostgresConnectionsCollector
from dictamesh.tenancy import is_public

MULTIPROC_ENV = "PROMETHEUS_MULTIPROC_DIR"


def _refused(status: int, message: str) -> HttpResponse:
    response = HttpResponse(message, status=status, content_type="text/plain; charset=utf-8")
    if status == 401:
        response["WWW-Authenticate"] = 'Bearer realm="metrics"'
    return response


def exposition_registry() -> CollectorRegistry:
    """What a scrape reads: every worker's files in multiprocess mode, else this process."""
    if os.environ.get(MULTIPROC_ENV):
        registry = CollectorRegistry()
        multiprocess.MultiProcessCollector(registry)
    else:
        registry = CollectorRegistry()
        registry.register(_ProcessRegistry())
    registry.register(PostgresConnectionsCollector())
    return registry


class _ProcessRegistry(Collector):
    """The default registry's metrics, as one collector of a per-scrape registry."""

    def collect(self) -> Iterable[Metric]:
        return prometheus_client.REGISTRY.collect()


def metrics(request: HttpRequest) -> HttpResponse:
    if not is_public():
        return _refused(404, "Metrics are served on the platform's host, not a tenant's.\n")
    token = settings.METRICS_BEARER_TOKEN
    if token:
        scheme, _, given = request.headers.get("Authorization", "").partition(" ")
        if scheme.lower() != "bearer" or not hmac.compare_digest(given.strip().encode(),
                                                                 token.encode()):
            return _refused(401, "Send `Authorization: Bearer <METRICS_BEARER_TOKEN>`.\n")
    return HttpResponse(prometheus_client.generate_latest(exposition_registry()),
                        content_type=prometheus_client.CONTENT_TYPE_LATEST)
