from __future__ import annotations

from django.http import HttpRequest, JsonResponse
from django.views.decorators.http import require_GET

from dictamesh.health.checks import collect_details, run_checks


@require_GET
def healthz(request: HttpRequest) -> JsonResponse:
    """Liveness: the process is up and serving requests. Checks nothing else on purpose."""
    return JsonResponse({"status": "ok"})


@require_GET
def readyz(request: HttpRequest) -> JsonResponse:
    """Readiness: 200 when every dependency answers, else 503 naming those that failed."""
    results = run_checks()
    failed = sorted(name for name, result in results.items() if not result.ok)
    body = {
        "status": "ok" if not failed else "fail",
        "failed": failed,
        "checks": {name: result.as_dict() for name, result in results.items()},
        **collect_details(),
    }
    return JsonResponse(body, status=503 if failed else 200)
