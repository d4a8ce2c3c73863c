"""Read-only records: the event log (immutable), lineage and the L3 cache."""

from __future__ import annotations

from django.contrib import admin
from django.utils.html import format_html

from apps.catalog.admin.explorer_views import entity_url
from apps.catalog.admin.source_names import NamesSources
from apps.catalog.contracts import EntityKey
from apps.catalog.display import format_version
from apps.catalog.models import CacheStatus, DataLineage, EventLog
from dictamesh.admin import ReadOnlyAdmin


@admin.register(EventLog)
class EventLogAdmin(NamesSources, ReadOnlyAdmin):
    list_display = ("event_timestamp", "event_type", "entity_type", "entity_id",
                    "version_time", "source")
    list_filter = ("event_type", "entity_type", "source_system")
    search_fields = ("entity_id", "=event_id")
    date_hierarchy = "event_timestamp"
    ordering = ("-event_timestamp", "-id")  # newest first, as the times shown
    show_full_result_count = False

    @admin.display(description="version (source time)", ordering="entity_version")
    def version_time(self, obj: EventLog) -> str:
        return format_version(obj.entity_version)


@admin.register(DataLineage)
class DataLineageAdmin(ReadOnlyAdmin):
    list_display = ("upstream", "downstream", "transformation", "origin", "times_seen",
                    "last_seen_at")
    list_filter = ("origin",)
    search_fields = ("upstream", "downstream", "transformation")


@admin.register(CacheStatus)
class CacheStatusAdmin(ReadOnlyAdmin):
    list_display = ("entity_type", "entity", "source_system", "fetched_at", "expires_at",
                    "invalidated", "last_error_at")
    list_filter = ("entity_type", "source_system", "invalidated")
    search_fields = ("entity_id",)

    @admin.display(description="entity", ordering="entity_id")
    def entity(self, obj: CacheStatus) -> str:
        key = EntityKey(obj.entity_type, obj.entity_id)
        return format_html('<a href="{}">{}</a>', entity_url(key), obj.entity_id)
