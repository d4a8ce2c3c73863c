"""The graph explorer's JSON answers and the entity look-ups behind the admin's links and
autocomplete. Each bad parameter is a 400 with a message, never a server error."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, cast
from urllib.parse import urlencode

from django.contrib import messages
from django.db.models import Q, TextField
from django.db.models.functions import Cast
from django.http import HttpRequest, HttpResponse, HttpResponseRedirect, JsonResponse, QueryDict
from django.urls import reverse

from apps.catalog.contracts import Direction, EntityKey, InvalidGraphQuery
from apps.catalog.display import display_name, format_version
from apps.catalog.explorer import MAX_EXPLORER_DEPTH, ExplorerGraph, explore
from apps.catalog.models import EntityCatalog

DEFAULT_EXPLORER_DEPTH = 2
LOOKUP_LIMIT = 15
_DIRECTIONS = ("both", "outgoing", "incoming")


@dataclass(frozen=True)
class ExplorerParams:
    depth: int = DEFAULT_EXPLORER_DEPTH
    direction: Direction = "both"
    relationship_types: tuple[str, ...] = ()

    @classmethod
    def from_query(cls, query: QueryDict) -> ExplorerParams:
        """depth, direction and types (repeated, or comma-separated) from a query string."""
        raw_depth = query.get("depth", str(DEFAULT_EXPLORER_DEPTH))
        try:
            depth = int(raw_depth)
        except ValueError:
            raise InvalidGraphQuery(f"depth must be a whole number, not {raw_depth!r}.") from None
        if not 1 <= depth <= MAX_EXPLORER_DEPTH:
            raise InvalidGraphQuery(f"depth must be between 1 and {MAX_EXPLORER_DEPTH}, "
                                    f"not {depth}.")
        direction = query.get("direction", "both")
        if direction not in _DIRECTIONS:
            raise InvalidGraphQuery(f"direction must be one of {', '.join(_DIRECTIONS)}, "
                                    f"not {direction!r}.")
        types = tuple(sorted({t.strip() for value in query.getlist("types")
                              for t in value.split(",") if t.strip()}))
        _refuse_nul(*types)
        return cls(depth, cast(Direction, direction), types)

    def query_string(self) -> str:
        return urlencode({"depth": self.depth, "direction": self.direction,
                          "types": ",".join(self.relationship_types)})


def entity_url(key: EntityKey) -> str:
    """The admin page of an entity named by type and id (ids may hold any character)."""
    return (reverse("admin:catalog_entitycatalog_open") + "?"
            + urlencode({"type": key.entity_type, "id": key.entity_id}))


def explore_for(key: EntityKey, params: ExplorerParams) -> ExplorerGraph:
    return explore(key.entity_type, key.entity_id, depth=params.depth,
                   direction=params.direction,
                   relationship_types=params.relationship_types or None)


def graph_document(graph: ExplorerGraph) -> dict[str, Any]:
    """The graph as the explorer's script reads it (Cytoscape's elements, plus links)."""
    names = graph.names()
    nodes = [{
        "id": str(node.key), "type": node.key.entity_type, "entity_id": node.key.entity_id,
        "name": names[node.key], "depth": node.depth, "resolved": node.resolved,
        "root": node.key == graph.root, "source": node.source_system or "",
        "version": format_version(node.version),
        "url": entity_url(node.key) if node.resolved else "",
    } for node in graph.nodes]
    edges = [{
        "id": edge.id, "source": str(edge.subject), "target": str(edge.object),
        "label": edge.label, "origin": edge.origin, "via": [str(k) for k in edge.via],
        "url": (reverse("admin:catalog_entityrelationship_change",
                        args=[edge.relationship_ids[0]])
                if len(edge.relationship_ids) == 1 else ""),
    } for edge in graph.edges]
    return {"root": str(graph.root), "depth": graph.depth, "direction": graph.direction,
            "truncated": graph.truncated, "collapsed_types": sorted(graph.collapsed_types),
            "nodes": nodes, "edges": edges}


def _refuse_nul(*values: str) -> None:
    # PostgreSQL text cannot hold NUL: refused here, not a database error later.
    if any("\x00" in value for value in values):
        raise InvalidGraphQuery("Parameters may not contain NUL characters.")


def _key_from(query: QueryDict) -> EntityKey:
    entity_type, entity_id = query.get("type", "").strip(), query.get("id", "")
    if not entity_type or not entity_id:
        raise InvalidGraphQuery("Name the entity: ?type=<entity type>&id=<entity id>.")
    _refuse_nul(entity_type, entity_id)
    return EntityKey(entity_type, entity_id)


def graph_json(request: HttpRequest) -> JsonResponse:
    """GET ?type=&id=&depth=&direction=&types=: the neighbourhood of one entity."""
    try:
        key = _key_from(request.GET)
        graph = explore_for(key, ExplorerParams.from_query(request.GET))
    except InvalidGraphQuery as exc:
        return JsonResponse({"error": str(exc)}, status=400)
    return JsonResponse(graph_document(graph))


def open_entity(request: HttpRequest) -> HttpResponse:
    """GET ?type=&id=: redirect to the entity's page, or back to the list with a message
    when the catalog has not seen it."""
    try:
        key = _key_from(request.GET)
    except InvalidGraphQuery as exc:
        return JsonResponse({"error": str(exc)}, status=400)
    found = (EntityCatalog.objects.filter(entity_type=key.entity_type, entity_id=key.entity_id)
             .values_list("pk", flat=True).first())
    if found is None:
        messages.warning(request, f"The catalog has not seen {key} (yet).")
        return HttpResponseRedirect(reverse("admin:catalog_entitycatalog_changelist"))
    return HttpResponseRedirect(reverse("admin:catalog_entitycatalog_change", args=[found]))


def lookup_entities(request: HttpRequest) -> JsonResponse:
    """GET ?q=: entities whose "type:id", id or attributes (a name, an email) hold ``q``,
    for the relationship form's autocomplete."""
    term = request.GET.get("q", "").strip()
    if not term or "\x00" in term:  # PostgreSQL text cannot hold NUL: nothing matches
        return JsonResponse({"results": []})
    entity_type, _, entity_id = term.partition(":")
    matches = Q(entity_id__icontains=term)
    if entity_id:
        matches |= Q(entity_type=entity_type, entity_id__istartswith=entity_id)
    found = (EntityCatalog.objects
             .annotate(attributes_text=Cast("attributes", TextField()))
             .filter(matches | Q(attributes_text__icontains=term))
             .order_by("entity_type", "entity_id")[:LOOKUP_LIMIT])
    return JsonResponse({"results": [
        {"value": f"{e.entity_type}:{e.entity_id}",
         "label": f"{e.entity_type}:{e.entity_id} {display_name(e.attributes)}".strip()}
        for e in found]})
