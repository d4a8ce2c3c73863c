from __future__ import annotations

from django.http import HttpRequest, JsonResponse
from django.views.decorators.http import require_GET
from prometheus_client import Gauge

from dictamesh.health.checks import run_checks

# Set by every /readyz call (the orchestrator's probe calls it every few seconds), so an
# alert can name the dependency; "mostrecent": under gunicorn the latest answer of any
# worker, not one series per worker.
READY = Gauge("dictamesh_readiness_check_up",
              "1 if the dependency answered the last readiness check, else 0.", ["check"],
              multiprocess_mode="mostrecent")


@require_GET
def healthz(request: HttpRequest) -> JsonResponse:
    """Liveness: the process is up and serving requests. Checks nothing else on purpose."""
    return JsonResponse({"status": "ok"})


@require_GET
def readyz(request: HttpRequest) -> JsonResponse:
    """Readiness: 200 when every dependency answers, else 503 naming those that failed.

    It needs no credentials, so it reports the platform's dependencies only: a tenant's
    sources are shown to that tenant's admins (GET /sources/health on its host)."""
    results = run_checks()
    failed = sorted(name for name, result in results.items() if not result.ok)
    for name, result in results.items():
        READY.labels(name).set(1 if result.ok else 0)
    body = {
        "status": "ok" if not failed else "fail",
        "failed": failed,
        "checks": {name: result.as_dict() for name, result in results.items()},
    }
    return JsonResponse(body, status=503 if failed else 200)
