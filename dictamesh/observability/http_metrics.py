"""``http_request_duration_seconds``: the specification's request latency, by tenant.

django_prometheus' own metrics stay (dashboards may use them); this one has the labels
operators slice by: the tenant (the schema the request ran in), the route (the URL
pattern, never the raw path: bounded cardinality), the method and the status class.
"""

from __future__ import annotations

import time
from collections.abc import Callable

from django.http import HttpRequest, HttpResponse
from prometheus_client import Histogram

from dictamesh.tenancy import current_schema

REQUEST_SECONDS = Histogram(
    "http_request_duration_seconds", "Time to answer an HTTP request, by route.",
    ["tenant", "method", "route", "status"],
    buckets=(0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0),
)
_METHODS = frozenset({"GET", "HEAD", "POST", "PUT", "PATCH", "DELETE", "OPTIONS"})


def _route(request: HttpRequest) -> str:
    match = getattr(request, "resolver_match", None)
    if match is None:
        return "unmatched"  # 404s of unknown paths: one series, not one per scanner's guess
    return match.route or match.view_name or "unnamed"


class RequestDurationMiddleware:
    """Times each request; sits after the tenant middleware so the tenant is known."""

    def __init__(self, get_response: Callable[[HttpRequest], HttpResponse]) -> None:
        self.get_response = get_response

    def __call__(self, request: HttpRequest) -> HttpResponse:
        started = time.perf_counter()
        response = self.get_response(request)
        method = request.method if request.method in _METHODS else "other"
        REQUEST_SECONDS.labels(current_schema() or "public", method, _route(request),
                               f"{response.status_code // 100}xx").observe(
            time.perf_counter() - started)
        return response
