"""GET /sources/health on a tenant's host: its sources as their last health check saw them.

For that tenant's admins only: a signed-in member with the tenant admin role (or a platform
admin), or the tenant's API key with the ``admin`` scope. The public /readyz reports the
platform's dependencies and nothing of any tenant. Credentials in URLs and error texts are
never shown.
"""

from __future__ import annotations

from typing import Any

from django.http import HttpRequest, JsonResponse
from django.views.decorators.http import require_GET

from apps.adapters.models import SourceConnection
from apps.tenancy import services as tenancy
from dictamesh.health.redact import redact_userinfo
from dictamesh.tenancy import current_schema, is_public


def _error(status: int, code: str, message: str) -> JsonResponse:
    response = JsonResponse({"error": {"code": code, "message": message}}, status=status)
    if status == 401:
        response["WWW-Authenticate"] = 'Bearer realm="dictamesh"'
    return response


def _is_tenant_admin(request: HttpRequest, schema: str) -> bool | None:
    """True or False for a caller who identified itself; None for one who did not."""
    scheme, _, token = request.headers.get("Authorization", "").partition(" ")
    if scheme.lower() == "bearer" and token.strip():
        key = tenancy.verify_api_key(token.strip())
        return key is not None and key.tenant == schema and "admin" in key.scopes
    user = request.user
    if not user.is_authenticated:
        return None
    return tenancy.is_platform_admin(user) or tenancy.at_least(
        tenancy.role_in(user, schema), tenancy.Role.ADMIN)


def sources_detail() -> dict[str, Any]:
    """The current tenant's enabled sources and their last health check."""
    return {
        c.name: {"adapter": c.adapter, "base_url": redact_userinfo(c.base_url),
                 "state": c.health_state, "detail": redact_userinfo(c.health_detail),
                 "checked_at": c.health_checked_at.isoformat() if c.health_checked_at
                 else None}
        for c in SourceConnection.objects.filter(enabled=True).order_by("name")
    }


@require_GET
def sources_health(request: HttpRequest) -> JsonResponse:
    if is_public():
        return _error(404, "NO_TENANT", "Source health is served on a tenant's host name.")
    schema = current_schema()
    allowed = _is_tenant_admin(request, schema)
    if allowed is None:
        return _error(401, "UNAUTHENTICATED",
                      "Sign in to the tenant's admin as a tenant admin, or send "
                      "`Authorization: Bearer <key>` with a key of the 'admin' scope.")
    if not allowed:
        return _error(403, "FORBIDDEN", "Source health is for this tenant's admins: ask one "
                      "for the tenant admin role or a key with the 'admin' scope.")
    return JsonResponse({"tenant": schema, "sources": sources_detail()})
