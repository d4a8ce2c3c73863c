"""Admin base classes shared by the apps whose tables live in tenant schemas."""

from __future__ import annotations

from typing import Any

from django.contrib import admin
from django.http import HttpRequest

from dictamesh.tenancy import is_public


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
