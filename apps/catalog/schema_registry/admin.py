"""Read-only admin pages so curators can browse subjects, versions and schemas.

Changes go through the registry API (services.py), which checks compatibility; the admin
would bypass that, so it offers no add, change or delete. A tenant host lists only its
tenant's subjects and the schemas they use; the global configuration is a platform object.
"""

from __future__ import annotations

import json
from typing import Any

from django.contrib import admin
from django.db.models import QuerySet
from django.http import HttpRequest, HttpResponse
from django.utils.html import format_html

from apps.catalog.schema_registry import services
from apps.catalog.schema_registry.models import RegistryConfig, Schema, Subject, SubjectVersion
from apps.catalog.schema_registry.ownership import tenant_prefix
from apps.catalog.schema_registry.subject_page import subject_page_context
from dictamesh.admin import TenantScopedAdmin
from dictamesh.tenancy import current_schema, is_public


def _pretty(schema_text: str) -> str:
    try:
        pretty = json.dumps(json.loads(schema_text), indent=2)
    except ValueError:  # stored schemas are valid JSON; show anything else as it is
        pretty = schema_text
    return format_html("<pre>{}</pre>", pretty)


class ReadOnlyMixin:
    def has_add_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False

    def has_change_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False

    def has_delete_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False


class SubjectVersionInline(ReadOnlyMixin, admin.TabularInline):
    model = SubjectVersion
    fields = ("version", "schema", "deleted", "created_at", "schema_text")
    readonly_fields = fields
    ordering = ("-version",)
    extra = 0

    @admin.display(description="schema")
    def schema_text(self, obj: SubjectVersion) -> str:
        return _pretty(obj.schema.schema)


@admin.register(Subject)
class SubjectAdmin(ReadOnlyMixin, TenantScopedAdmin):
    list_display = ("name", "compatibility_in_force", "deleted", "created_at")
    list_filter = ("deleted", "compatibility")
    search_fields = ("name",)
    readonly_fields = ("name", "compatibility_in_force", "deleted", "created_at")
    inlines = [SubjectVersionInline]

    @admin.display(description="compatibility in force", ordering="compatibility")
    def compatibility_in_force(self, obj: Subject) -> str:
        if obj.compatibility:
            return obj.compatibility
        return f"{services.get_compatibility(None)} (the global default)"

    def change_view(self, request: HttpRequest, object_id: str, form_url: str = "",
                    extra_context: dict[str, Any] | None = None) -> HttpResponse:
        context = dict(extra_context or {})
        subject = self.get_object(request, object_id)
        if subject is not None:
            context.update(subject_page_context(request, subject))
        return super().change_view(request, object_id, form_url, extra_context=context)

    def scope_to_tenant(self, queryset: QuerySet[Subject], schema: str) -> QuerySet[Subject]:
        return queryset.filter(name__startswith=tenant_prefix(schema))


class SchemaUsageInline(ReadOnlyMixin, admin.TabularInline):
    model = SubjectVersion
    fields = ("subject", "version", "deleted")
    readonly_fields = fields
    extra = 0
    verbose_name_plural = "registered as"

    def get_queryset(self, request: HttpRequest) -> QuerySet[SubjectVersion]:
        # Equal schemas share one id across tenants: show a tenant only its own subjects.
        queryset = super().get_queryset(request)
        if is_public():
            return queryset
        return queryset.filter(subject__name__startswith=tenant_prefix(current_schema()))


@admin.register(Schema)
class SchemaAdmin(ReadOnlyMixin, TenantScopedAdmin):
    list_display = ("id", "schema_type", "created_at")
    search_fields = ("id__exact", "schema")  # id__exact: non-numeric terms match nothing
    fields = ("id", "schema_type", "fingerprint", "created_at", "pretty_schema")
    readonly_fields = fields
    inlines = [SchemaUsageInline]

    def scope_to_tenant(self, queryset: QuerySet[Schema], schema: str) -> QuerySet[Schema]:
        return queryset.filter(
            subject_versions__subject__name__startswith=tenant_prefix(schema)).distinct()

    @admin.display(description="schema")
    def pretty_schema(self, obj: Schema) -> str:
        return _pretty(obj.schema)


@admin.register(RegistryConfig)
class RegistryConfigAdmin(ReadOnlyMixin, admin.ModelAdmin):
    list_display = ("id", "compatibility")
