"""django-tenants' TenantMainMiddleware, finding the request's tenant without switching the
connection to the public schema first.

The stock middleware sets the public schema, looks the host up, then sets the tenant: two
`SET search_path` per request, since each switch changes the session's path. Here the
lookup names its tables with their schema (`public.tenancy_domain`), so it reads the same
rows whatever path the session has, and the connection goes from one request's tenant to
the next one's directly: with the backend in dictamesh/tenant_db, a request to the tenant
the connection already serves sends no SET at all, one to another tenant sends one.
"""

from __future__ import annotations

from typing import Any

from django.core.exceptions import DisallowedHost
from django.db import connection
from django.http import HttpRequest, HttpResponse, HttpResponseNotFound
from django_tenants.middleware.main import TenantMainMiddleware
from django_tenants.utils import get_public_schema_name

from apps.tenancy.models import Domain, Tenant


def _tenant_for_host(hostname: str) -> Tenant | None:
    public = connection.ops.quote_name(get_public_schema_name())
    tenants = connection.ops.quote_name(Tenant._meta.db_table)
    domains = connection.ops.quote_name(Domain._meta.db_table)
    found = list(Tenant.objects.raw(
        f"SELECT t.* FROM {public}.{tenants} t JOIN {public}.{domains} d "  # noqa: S608 - names, not input
        "ON d.tenant_id = t.id WHERE d.domain = %s", [hostname]))
    return found[0] if found else None


class TenantMiddleware(TenantMainMiddleware):
    def process_request(self, request: HttpRequest) -> HttpResponse | Any:
        try:
            hostname = self.hostname_from_request(request)
        except DisallowedHost:
            connection.set_schema_to_public()  # type: ignore[attr-defined]
            return HttpResponseNotFound()
        tenant = _tenant_for_host(hostname)
        if tenant is None:
            connection.set_schema_to_public()  # type: ignore[attr-defined]
            return self.no_tenant_found(request, hostname)
        tenant.domain_url = hostname
        request.tenant = tenant  # type: ignore[attr-defined]
        connection.set_tenant(tenant)  # type: ignore[attr-defined]
        self.setup_url_routing(request)
        return None
