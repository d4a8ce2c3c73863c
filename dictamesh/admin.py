"""Admin base classes shared by the apps whose tables live in tenant schemas."""

from __future__ import annotations

from typing import Any

from django.contrib import admin
from django.db.models import QuerySet
from django.http import HttpRequest

from dictamesh.tenancy import current_schema, is_public


class TenantOnlyAdmin(admin.ModelAdmin):
    """Hidden on the public host, where tenant tables do not exist."""

    def has_module_permission(self, request: HttpRequest) -> bool:
        return not is_public() and super().has_module_permission(request)

    def has_view_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return not is_public() and super().has_view_permission(request, obj)


class ReadOnlyAdmin(TenantOnlyAdmin):
    """For records nobody edits by hand (events, lineage, caches)."""

    def has_add_permission(self, request: HttpRequest) -> bool:
        return False

    def has_change_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False

    def has_delete_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False


class TenantScopedAdmin(admin.ModelAdmin):
    """For public-schema rows that belong to a tenant (API keys, registry subjects): a
    tenant host's admin lists only the rows of that host's tenant, and opening another
    tenant's row by id finds nothing. The public host (platform admins only) lists all."""

    # Read by the admin site: a shared model's admin without it is a platform object,
    # shown on the public host to platform admins only.
    tenant_scoped = True

    def scope_to_tenant(self, queryset: QuerySet[Any], schema: str) -> QuerySet[Any]:
        """Only the rows of the tenant whose schema is ``schema``."""
        raise NotImplementedError

    def get_queryset(self, request: HttpRequest) -> QuerySet[Any]:
        queryset = super().get_queryset(request)
        return queryset if is_public() else self.scope_to_tenant(queryset, current_schema())
