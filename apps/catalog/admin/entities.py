"""The entity list and page. Entities are read-only: sources own their data."""

from __future__ import annotations

import json
from typing import Any

from django.contrib import admin
from django.core.exceptions import PermissionDenied
from django.db.models import QuerySet, TextField, Value
from django.db.models.functions import Cast, LPad
from django.http import HttpRequest, HttpResponse
from django.urls import URLPattern, path
from django.utils.html import format_html

from apps.catalog.admin.entity_page import entity_page_context
from apps.catalog.admin.explorer_views import graph_json, lookup_entities, open_entity
from apps.catalog.admin.source_names import NamesSources
from apps.catalog.display import display_name, format_version
from apps.catalog.models import EntityCatalog
from dictamesh.admin import ReadOnlyAdmin

# Ids padded on the left to the column's width sort naturally: 1, 2, 10, 11, 100 and
# INV-2 before INV-10 (a shorter id sorts first where the longer one has more digits).
_ID_WIDTH = EntityCatalog._meta.get_field("entity_id").max_length or 255


@admin.register(EntityCatalog)
class EntityCatalogAdmin(NamesSources, ReadOnlyAdmin):
    list_display = ("entity_type", "natural_id", "name", "source", "version_time",
                    "is_deleted", "updated_at")
    list_display_links = ("natural_id", "name")
    list_filter = ("entity_type", "source_system", "is_deleted")
    search_fields = ("entity_id",)
    readonly_fields = ("entity_type", "entity_id", "name", "source", "adapter",
                       "version_time", "is_deleted", "source_updated_at", "updated_at",
                       "first_seen_at", "pretty_attributes")
    exclude = ("attributes", "version", "source_system")
    show_full_result_count = False  # COUNT(*) on a large catalog on every page is wasteful

    def get_queryset(self, request: HttpRequest) -> QuerySet[EntityCatalog]:
        # The annotation comes before the ordering that uses it (ModelAdmin orders first).
        return (self.model._default_manager.get_queryset()
                .annotate(natural_key=LPad("entity_id", _ID_WIDTH, Value("0")))
                .order_by(*self.get_ordering(request)))

    def get_ordering(self, request: HttpRequest) -> tuple[str, ...]:
        return ("entity_type", "natural_key")

    @admin.display(description="id", ordering="natural_key")
    def natural_id(self, obj: EntityCatalog) -> str:
        return obj.entity_id

    @admin.display(description="name")
    def name(self, obj: EntityCatalog) -> str:
        return display_name(obj.attributes)

    @admin.display(description="version (source time)", ordering="version")
    def version_time(self, obj: EntityCatalog) -> str:
        return format_version(obj.version)

    @admin.display(description="attributes")
    def pretty_attributes(self, obj: EntityCatalog) -> str:
        return format_html("<pre>{}</pre>", json.dumps(obj.attributes, indent=2,
                                                       sort_keys=True, ensure_ascii=False))

    def get_search_results(
        self, request: HttpRequest, queryset: QuerySet, search_term: str
    ) -> tuple[QuerySet, bool]:
        """Search ids, and attribute values too (an email, a name, a SKU)."""
        results, may_have_duplicates = super().get_search_results(request, queryset,
                                                                  search_term)
        if search_term:
            by_attributes = queryset.annotate(
                attributes_text=Cast("attributes", TextField())
            ).filter(attributes_text__icontains=search_term)
            results = results | queryset.filter(pk__in=by_attributes.values("pk"))
        return results, may_have_duplicates

    def get_urls(self) -> list[URLPattern]:
        def viewing(view: Any) -> Any:
            return self.admin_site.admin_view(self._requires_view(view))

        return [
            path("graph/", viewing(graph_json), name="catalog_entitycatalog_graph"),
            path("open/", viewing(open_entity), name="catalog_entitycatalog_open"),
            path("lookup/", viewing(lookup_entities), name="catalog_entitycatalog_lookup"),
            *super().get_urls(),
        ]

    def _requires_view(self, view: Any) -> Any:
        def guarded(request: HttpRequest) -> HttpResponse:
            if not self.has_view_permission(request):
                raise PermissionDenied
            response: HttpResponse = view(request)
            return response

        return guarded

    def change_view(self, request: HttpRequest, object_id: str, form_url: str = "",
                    extra_context: dict[str, Any] | None = None) -> HttpResponse:
        entity = self.get_object(request, object_id)
        context = dict(extra_context or {})
        if entity is not None and self.has_view_permission(request, entity):
            context.update(entity_page_context(request, entity))
        return super().change_view(request, object_id, form_url, extra_context=context)
