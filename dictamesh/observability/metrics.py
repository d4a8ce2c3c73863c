"""GET /metrics: the Prometheus exposition, on the public host only.

Metrics carry every tenant's labels (sources, consumer groups, sagas), so a tenant's host
answers 404; with METRICS_BEARER_TOKEN set, the scraper must also send
``Authorization: Bearer <token>``. The worker serves its own on WORKER_METRICS_PORT.
"""

from __future__ import annotations

import hmac

from django.conf import settings
from django.http import HttpRequest, HttpResponse
from django_prometheus.exports import ExportToDjangoView

from dictamesh.tenancy import is_public


def _refused(status: int, message: str) -> HttpResponse:
    response = HttpResponse(message, status=status, content_type="text/plain; charset=utf-8")
    if status == 401:
        response["WWW-Authenticate"] = 'Bearer realm="metrics"'
    return response


def metrics(request: HttpRequest) -> HttpResponse:
    if not is_public():
        return _refused(404, "Metrics are served on the platform's host, not a tenant's.\n")
    token = settings.METRICS_BEARER_TOKEN
    if token:
        scheme, _, given = request.headers.get("Authorization", "").partition(" ")
        if scheme.lower() != "bearer" or not hmac.compare_digest(given.strip().encode(),
                                                                 token.encode()):
            return _refused(401, "Send `Authorization: Bearer <METRICS_BEARER_TOKEN>`.\n")
    return ExportToDjangoView(request)
