"""Each tenant's sources in /readyz detail, as their last health check saw them."""

from __future__ import annotations

from typing import Any

from django_tenants.utils import get_tenant_model

from apps.adapters.models import SourceConnection
from dictamesh.tenancy import tenant_context


def sources_detail() -> dict[str, Any]:
    detail: dict[str, Any] = {}
    for schema in get_tenant_model().objects.exclude(schema_name="public").values_list(
            "schema_name", flat=True):
        with tenant_context(schema):
            detail[schema] = {
                c.name: {"adapter": c.adapter, "state": c.health_state,
                         "detail": c.health_detail,
                         "checked_at": c.health_checked_at.isoformat()
                         if c.health_checked_at else None}
                for c in SourceConnection.objects.filter(enabled=True)
            }
    return detail
