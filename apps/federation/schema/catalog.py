"""The catalog domain: where entities live, how they relate, where data comes from and
what happened to an entity - read through `apps.catalog.services` only."""

from __future__ import annotations

from base64 import urlsafe_b64decode, urlsafe_b64encode
from typing import Any

import graphene
from graphql import GraphQLError, GraphQLResolveInfo

from apps.catalog import services
from apps.catalog.contracts import (
    DEFAULT_GRAPH_DEPTH,
    MAX_GRAPH_DEPTH,
    CatalogError,
    EntityLocation,
    EntityNotFound,
)
from apps.federation.loaders import INVALID_ARGUMENT
from apps.federation.schema.graphs import graph_type

#: the largest `first` of `entityEvents`
MAX_EVENTS_PAGE = 200
_EVENT_CURSOR = "events:"


class GraphDirection(graphene.Enum):
    OUTGOING = "outgoing"
    INCOMING = "incoming"
    BOTH = "both"


class LineageDirection(graphene.Enum):
    UPSTREAM = "upstream"
    DOWNSTREAM = "downstream"
    BOTH = "both"


class EntityKeyType(graphene.ObjectType):
    class Meta:
        name = "EntityKey"

    type = graphene.String(required=True, resolver=lambda key, info: key.entity_type)
    id = graphene.ID(required=True, resolver=lambda key, info: key.entity_id)


class GraphNode(graphene.ObjectType):
    key = graphene.Field(EntityKeyType, required=True)
    depth = graphene.Int(required=True)
    resolved = graphene.Boolean(required=True,
                                description="False: referenced, but the catalog has not "
                                            "seen the entity itself yet.")
    source_system = graphene.String()
    version = graphene.Float(description="The source's version (epoch ms for most sources).")


class GraphEdge(graphene.ObjectType):
    id = graphene.ID(required=True)
    subject = graphene.Field(EntityKeyType, required=True)
    relationship_type = graphene.String(required=True)
    object = graphene.Field(EntityKeyType, required=True)
    origin = graphene.String(required=True)


class RelationshipGraph(graphene.ObjectType):
    root = graphene.Field(EntityKeyType, required=True)
    max_depth = graphene.Int(required=True)
    nodes = graphene.List(graphene.NonNull(GraphNode), required=True)
    edges = graphene.List(graphene.NonNull(GraphEdge), required=True)


class LineageNode(graphene.ObjectType):
    name = graphene.String(required=True)
    hops = graphene.Int(required=True)


class LineageEdge(graphene.ObjectType):
    upstream = graphene.String(required=True)
    downstream = graphene.String(required=True)
    transformation = graphene.String(required=True)
    times_seen = graphene.Int(required=True)
    last_seen_at = graphene.DateTime(required=True)


class Lineage(graphene.ObjectType):
    node = graphene.String(required=True)
    nodes = graphene.List(graphene.NonNull(LineageNode), required=True)
    edges = graphene.List(graphene.NonNull(LineageEdge), required=True)


class CatalogEvent(graphene.ObjectType):
    event_id = graphene.ID(required=True)
    event_type = graphene.String(required=True)
    entity_version = graphene.Float(required=True)
    source_system = graphene.String(required=True)
    changed_fields = graphene.List(graphene.NonNull(graphene.String), required=True)
    event_timestamp = graphene.DateTime(required=True)
    trace_id = graphene.String()


class EventPageFields:
    nodes = graphene.List(graphene.NonNull(CatalogEvent), required=True)
    page_info = graphene.Field(graph_type("PageInfo"), required=True)


def _value(member: Any) -> Any:
    """graphene 3 hands resolvers enum members; the catalog API takes their values."""
    return getattr(member, "value", member)


def _invalid(message: str) -> GraphQLError:
    return GraphQLError(message, extensions={"code": INVALID_ARGUMENT})


def _location(entity_type: str, entity_id: str) -> EntityLocation | None:
    try:
        return services.get_entity_location(entity_type, entity_id)
    except EntityNotFound:
        return None


class CatalogEntityFields:
    """Where an entity lives and how fresh the catalog's copy is."""

    type = graphene.String(required=True)
    id = graphene.ID(required=True)
    source_system = graphene.String(required=True)
    adapter = graphene.String(required=True)
    version = graphene.Float(required=True)
    is_deleted = graphene.Boolean(required=True)
    catalog_updated_at = graphene.DateTime(required=True)
    age_seconds = graphene.Float(required=True)

    def _resolve_reference(self, info: GraphQLResolveInfo) -> Any:
        entity = _as_entity(_location(self.type, self.id))
        return type(self)(**entity) if entity else None


def _as_entity(location: EntityLocation | None) -> dict[str, Any] | None:
    if location is None:
        return None
    return {"type": location.key.entity_type, "id": location.key.entity_id,
            "source_system": location.source_system, "adapter": location.adapter,
            "version": location.version, "is_deleted": location.is_deleted,
            "catalog_updated_at": location.catalog_updated_at,
            "age_seconds": location.age_seconds}


def resolve_catalog_entity(root: Any, info: GraphQLResolveInfo, type: str,  # noqa: A002
                           id: str) -> dict[str, Any] | None:  # noqa: A002
    return _as_entity(_location(type, id))


def resolve_relationship_graph(root: Any, info: GraphQLResolveInfo, type: str,  # noqa: A002
                               id: str, direction: Any = "outgoing",  # noqa: A002
                               depth: int = DEFAULT_GRAPH_DEPTH,
                               relationship_types: list[str] | None = None) -> Any:
    try:
        return services.query_relationship_graph(type, id, direction=_value(direction),
                                                 relationship_types=relationship_types,
                                                 max_depth=depth)
    except CatalogError as exc:
        raise _invalid(str(exc)) from exc


def resolve_lineage(root: Any, info: GraphQLResolveInfo, node: str, direction: Any = "both",
                    depth: int = 3) -> dict[str, Any]:
    try:
        graph = services.query_lineage(node, _value(direction), depth)
    except CatalogError as exc:
        raise _invalid(str(exc)) from exc
    return {"node": graph.node, "edges": graph.edges,
            "nodes": [{"name": name, "hops": hops} for name, hops in graph.nodes.items()]}


def _offset(after: str | None) -> int:
    if not after:
        return 0
    try:
        text = urlsafe_b64decode(after.encode()).decode()
        if not text.startswith(_EVENT_CURSOR):
            raise ValueError(text)
        return max(0, int(text.removeprefix(_EVENT_CURSOR)))
    except ValueError as exc:
        raise _invalid("`after` is not an event cursor: pass the previous page's "
                       "pageInfo.endCursor.") from exc


def resolve_entity_events(root: Any, info: GraphQLResolveInfo, type: str,  # noqa: A002
                          id: str, first: int = 50,  # noqa: A002
                          after: str | None = None) -> dict[str, Any]:
    """Newest first. The cursor is a position in that order: events recorded after a page
    was read shift later pages by as many (the log only grows at the newest end)."""
    if not 1 <= first <= MAX_EVENTS_PAGE:
        raise _invalid(f"`first` must be between 1 and {MAX_EVENTS_PAGE}.")
    start = _offset(after)
    events = services.entity_events(type, id, limit=start + first + 1)[start:]
    page, more = events[:first], len(events) > first
    end = urlsafe_b64encode(f"{_EVENT_CURSOR}{start + len(page)}".encode()).decode()
    return {"nodes": page, "page_info": {"end_cursor": end if page else after,
                                         "has_next_page": more}}


def _type_arg() -> graphene.String:
    return graphene.String(required=True, description='Entity type, e.g. "customer".')


class CatalogQueries:
    catalog_entity = graphene.Field(
        graph_type("CatalogEntity"), type=_type_arg(), id=graphene.ID(required=True),
        resolver=resolve_catalog_entity,
        description="Where an entity lives; null if the catalog has not seen it.")
    relationship_graph = graphene.Field(
        RelationshipGraph, type=_type_arg(), id=graphene.ID(required=True),
        direction=GraphDirection(default_value=GraphDirection.OUTGOING),
        depth=graphene.Int(default_value=DEFAULT_GRAPH_DEPTH,
                           description=f"1 to {MAX_GRAPH_DEPTH} hops."),
        relationship_types=graphene.List(graphene.NonNull(graphene.String)),
        resolver=resolve_relationship_graph, required=True)
    lineage = graphene.Field(
        Lineage, node=graphene.String(required=True,
                                      description='e.g. "catalog:customer".'),
        direction=LineageDirection(default_value=LineageDirection.BOTH),
        depth=graphene.Int(default_value=3), resolver=resolve_lineage, required=True)
    entity_events = graphene.Field(
        graph_type("EventPage"), type=_type_arg(), id=graphene.ID(required=True),
        first=graphene.Int(default_value=50), after=graphene.String(),
        resolver=resolve_entity_events, required=True,
        description="The entity's change events, newest first.")
