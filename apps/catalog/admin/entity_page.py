"""What the entity page shows besides its fields: the graph explorer (and its picture for
when scripts are off), provenance (source connection, cache record, both update times),
the entity's events newest first and paged, its lineage, and the curators' changes."""

from __future__ import annotations

from typing import Any
from urllib.parse import urlencode

from django.core.paginator import Paginator
from django.http import HttpRequest
from django.urls import reverse
from django.utils.safestring import mark_safe

from apps.catalog import provenance, services
from apps.catalog.admin.explorer_views import (
    ExplorerParams,
    entity_url,
    explore_for,
    graph_document,
)
from apps.catalog.contracts import EntityKey, InvalidGraphQuery
from apps.catalog.display import format_version
from apps.catalog.explorer import MAX_EXPLORER_DEPTH
from apps.catalog.graph_svg import render_graph_svg
from apps.catalog.models import EntityCatalog, EventLog
from apps.tenancy.services import AuditFilter, audit_entries
from dictamesh.tenancy import current_schema

EVENTS_PER_PAGE = 25
AUDIT_ENTRIES_SHOWN = 50


def entity_page_context(request: HttpRequest, entity: EntityCatalog) -> dict[str, Any]:
    key = EntityKey(entity.entity_type, entity.entity_id)
    return {
        **_explorer(request, key),
        "provenance": {
            "sources": provenance.source_details(entity.source_system),
            "cache": provenance.cache_record(key),
            "source_updated_at": entity.source_updated_at,
            "catalog_updated_at": entity.updated_at,
            "first_seen_at": entity.first_seen_at,
            "version": format_version(entity.version),
        },
        "events_page": _events(request, key),
        "events_list_url": reverse("admin:catalog_eventlog_changelist") + "?" + (
            f"entity_type={entity.entity_type}&entity_id={entity.entity_id}"),
        "entity_lineage": services.query_lineage(f"entity:{key}", "both", depth=2).edges,
        "type_lineage": services.query_lineage(f"catalog:{key.entity_type}", "both",
                                               depth=2).edges,
        "audit_trail": _audit_trail(key),
        "add_relationship_url": reverse("admin:catalog_entityrelationship_add")
        + "?" + urlencode({"subject": str(key)}),
        "may_add_relationship": request.user.has_perm("catalog.add_entityrelationship"),
    }


def _explorer(request: HttpRequest, key: EntityKey) -> dict[str, Any]:
    try:
        params = ExplorerParams.from_query(request.GET)
        error = ""
    except InvalidGraphQuery as exc:
        params, error = ExplorerParams(), str(exc)
    graph = explore_for(key, params)
    return {
        "explorer": {
            "params": params, "error": error, "graph": graph,
            "document": graph_document(graph),
            "depths": range(1, MAX_EXPLORER_DEPTH + 1),
            "directions": ("both", "outgoing", "incoming"),
            "relationship_types": sorted(graph.relationship_types
                                         | set(params.relationship_types)),
            "graph_url": reverse("admin:catalog_entitycatalog_graph"),
        },
        "graph_svg": mark_safe(render_graph_svg(graph, entity_url)),  # noqa: S308 - escaped inside
    }


def _events(request: HttpRequest, key: EntityKey) -> Any:
    """Newest first by event time; ``events_page`` in the query string pages on."""
    events = EventLog.objects.filter(entity_type=key.entity_type,
                                     entity_id=key.entity_id).order_by("-event_timestamp", "-id")
    return Paginator(events, EVENTS_PER_PAGE).get_page(request.GET.get("events_page"))


def _audit_trail(key: EntityKey) -> list[Any]:
    ids = tuple(str(pk) for pk in provenance.relationship_ids(key))
    if not ids:
        return []
    # Relationship ids are per tenant schema: the tenant's own entries only.
    return audit_entries(AuditFilter(tenant=current_schema(), object_type="relationship",
                                     object_ids=ids), limit=AUDIT_ENTRIES_SHOWN)
