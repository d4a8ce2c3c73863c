"""Catalog curation in the Django admin (tenant hosts only: the tables live in tenant schemas).

Entities, events and lineage are read-only here: sources own their data and the event log
is immutable. Curators may add or retire relationships; both go through the service API,
which records them in lineage as manual work.
"""

from __future__ import annotations

import json
from typing import Any

from django.contrib import admin, messages
from django.db.models import QuerySet, TextField
from django.db.models.functions import Cast
from django.http import HttpRequest, HttpResponse
from django.urls import reverse
from django.utils.html import format_html
from django.utils.safestring import mark_safe

from apps.catalog import services
from apps.catalog.contracts import EntityKey, Relationship
from apps.catalog.graph_svg import render_graph_svg
from apps.catalog.models import (
    CacheStatus,
    DataLineage,
    EntityCatalog,
    EntityRelationship,
    EventLog,
)
from dictamesh.admin import ReadOnlyAdmin, TenantOnlyAdmin


@admin.register(EntityCatalog)
class EntityCatalogAdmin(ReadOnlyAdmin):
    list_display = ("entity_type", "entity_id", "source_system", "version", "is_deleted",
                    "updated_at")
    list_filter = ("entity_type", "source_system", "is_deleted")
    search_fields = ("entity_id",)
    ordering = ("entity_type", "entity_id")
    readonly_fields = ("entity_type", "entity_id", "source_system", "adapter", "version",
                       "is_deleted", "source_updated_at", "first_seen_at", "updated_at",
                       "pretty_attributes")
    exclude = ("attributes",)
    show_full_result_count = False  # COUNT(*) on a large catalog on every page is wasteful

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

    def change_view(self, request: HttpRequest, object_id: str, form_url: str = "",
                    extra_context: dict[str, Any] | None = None) -> HttpResponse:
        entity = self.get_object(request, object_id)
        context = dict(extra_context or {})
        if entity is not None:
            graph = services.query_relationship_graph(
                entity.entity_type, entity.entity_id, direction="both", max_depth=2)
            lineage = []
            for node in (f"catalog:{entity.entity_type}",
                         f"entity:{entity.entity_type}:{entity.entity_id}"):
                lineage += services.query_lineage(node, direction="both", depth=2).edges
            context.update(
                graph=graph,
                graph_svg=mark_safe(render_graph_svg(graph)),  # noqa: S308 - escaped inside
                lineage=lineage,
                events=services.entity_events(entity.entity_type, entity.entity_id, limit=20),
                add_relationship_url=reverse("admin:catalog_entityrelationship_add")
                + f"?subject_entity_type={entity.entity_type}"
                  f"&subject_entity_id={entity.entity_id}",
            )
        return super().change_view(request, object_id, form_url, extra_context=context)


@admin.register(EntityRelationship)
class EntityRelationshipAdmin(TenantOnlyAdmin):
    list_display = ("subject", "relationship_type", "object", "origin", "created_at",
                    "retired_at")
    list_filter = ("relationship_type", "origin", ("retired_at", admin.EmptyFieldListFilter))
    search_fields = ("subject_entity_id", "object_entity_id")
    fields = ("subject_entity_type", "subject_entity_id", "relationship_type",
              "object_entity_type", "object_entity_id")
    actions = ["retire_selected"]

    @admin.display(description="subject")
    def subject(self, obj: EntityRelationship) -> str:
        return f"{obj.subject_entity_type}:{obj.subject_entity_id}"

    @admin.display(description="object")
    def object(self, obj: EntityRelationship) -> str:
        return f"{obj.object_entity_type}:{obj.object_entity_id}"

    def get_readonly_fields(self, request: HttpRequest, obj: Any = None) -> Any:
        if obj is None:
            return ()
        return (*self.fields, "origin", "source_system", "created_by", "created_at",
                "retired_at", "retired_by")

    def get_fields(self, request: HttpRequest, obj: Any = None) -> Any:
        return self.get_readonly_fields(request, obj) or self.fields

    def has_delete_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False  # retire instead: the edge stays in the history

    def save_model(self, request: HttpRequest, obj: EntityRelationship, form: Any,
                   change: bool) -> None:
        relationship = Relationship(
            EntityKey(obj.subject_entity_type, obj.subject_entity_id),
            obj.relationship_type,
            EntityKey(obj.object_entity_type, obj.object_entity_id),
        )
        edge = services.add_manual_relationship(relationship,
                                                curator=request.user.get_username())
        if edge is None:
            messages.warning(request, "That relationship exists already; nothing was added.")
            existing = EntityRelationship.objects.get(
                subject_entity_type=obj.subject_entity_type,
                subject_entity_id=obj.subject_entity_id,
                relationship_type=obj.relationship_type,
                object_entity_type=obj.object_entity_type,
                object_entity_id=obj.object_entity_id, retired_at__isnull=True)
            obj.pk = existing.pk
        else:
            obj.pk = edge.id

    @admin.action(description="Retire selected relationships")
    def retire_selected(self, request: HttpRequest, queryset: QuerySet) -> None:
        retired = sum(services.retire_relationship(pk, curator=request.user.get_username())
                      for pk in queryset.values_list("pk", flat=True))
        self.message_user(request, f"Retired {retired} relationship(s).")


@admin.register(EventLog)
class EventLogAdmin(ReadOnlyAdmin):
    list_display = ("event_timestamp", "event_type", "entity_type", "entity_id",
                    "entity_version", "source_system")
    list_filter = ("event_type", "entity_type", "source_system")
    search_fields = ("entity_id", "=event_id")
    date_hierarchy = "event_timestamp"
    show_full_result_count = False


@admin.register(DataLineage)
class DataLineageAdmin(ReadOnlyAdmin):
    list_display = ("upstream", "downstream", "transformation", "origin", "times_seen",
                    "last_seen_at")
    list_filter = ("origin",)
    search_fields = ("upstream", "downstream", "transformation")


@admin.register(CacheStatus)
class CacheStatusAdmin(ReadOnlyAdmin):
    list_display = ("entity_type", "entity_id", "source_system", "fetched_at", "expires_at",
                    "last_error_at")
    list_filter = ("entity_type", "source_system")
    search_fields = ("entity_id",)
