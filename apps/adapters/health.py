"""Each tenant's sources in /readyz detail, as their last health check saw them."""

from __future__ import annotations

from typing import Any

from apps.adapters.models import SourceConnection
from apps.tenancy.services import tenant_schemas
from dictamesh.tenancy import tenant_context


def sources_detail() -> dict[str, Any]:
    detail: dict[str, Any] = {}
    for schema in tenant_schemas():
        with tenant_context(schema):
            detail[schema] = {
                c.name: {"adapter": c.adapter, "state": c.health_state,
                         "detail": c.health_detail,
                         "checked_at": c.health_checked_at.isoformat()
                         if c.health_checked_at else None}
                for c in SourceConnection.objects.filter(enabled=True)
            }
    return detail
