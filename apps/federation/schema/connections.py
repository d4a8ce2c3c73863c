"""Filtered lists of entities, a page at a time: Relay-style connections whose filters are
pushed down to the source (the adapter turns them into the source's own query parameters;
nothing is filtered here).

A connection is ``{edges {node cursor}, nodes, pageInfo {endCursor hasNextPage},
totalCount}``. Sources page by their own cursors (a keyset, a page number, an opaque
token), which resume after a whole page, not after any item: so ``endCursor`` (also the
last edge's cursor) is the one to pass as ``after``; the other edges' cursors are null, as
the Relay specification allows. ``totalCount`` is the source's count of every matching
entity, null when the source does not give one.
"""

from __future__ import annotations

from base64 import urlsafe_b64decode, urlsafe_b64encode
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

import graphene
from graphql import GraphQLError, GraphQLResolveInfo

from apps.adapters.base import AdapterError, EntityPage, EntityQuery, InvalidQuery
from apps.adapters.services import EntityResult, NoSourceFor, data_product_for
from apps.federation.loaders import INVALID_ARGUMENT, failure_of
from apps.federation.schema.common import Ref, failure_error
from apps.federation.schema.graphs import graph_type
from dictamesh.resilience import CircuitOpenError

#: the largest `first`: the smallest largest page of our sources
MAX_PAGE_SIZE = 250
DEFAULT_PAGE_SIZE = 50


def invalid_argument(message: str) -> GraphQLError:
    return GraphQLError(message, extensions={"code": INVALID_ARGUMENT})


def encode_after(source_cursor: str | None) -> str | None:
    """The API's cursor for a source's page cursor (opaque to consumers)."""
    return urlsafe_b64encode(source_cursor.encode()).decode() if source_cursor else None


def decode_after(after: str | None) -> str | None:
    """The source's page cursor an `after` argument holds."""
    if not after:
        return None
    try:
        return urlsafe_b64decode(after.encode()).decode()
    except ValueError as exc:
        raise invalid_argument("`after` is not a cursor this API gave out: pass a page's "
                               "pageInfo.endCursor.") from exc


def timestamp_text(moment: datetime) -> str:
    """A filter's date-time as the ISO 8601 text sources compare (UTC when it names no
    zone)."""
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=UTC)
    return moment.astimezone(UTC).isoformat().replace("+00:00", "Z")


@dataclass(frozen=True)
class FilterField:
    """One GraphQL filter field: the canonical filter it becomes, and how its value does."""

    canonical: str
    convert: Callable[[Any], Any] = lambda value: value


def canonical_filters(given: Mapping[str, Any] | None,
                      fields: Mapping[str, FilterField]) -> dict[str, Any]:
    """The adapter's filters for a GraphQL filter input (unset and null fields left out)."""
    return {fields[name].canonical: fields[name].convert(value)
            for name, value in (given or {}).items() if value is not None}


def read_page(entity_type: str, filters: Mapping[str, Any], first: int,
              after: str | None) -> dict[str, Any]:
    """One page of ``entity_type`` entities matching ``filters``, as a connection."""
    if not 1 <= first <= MAX_PAGE_SIZE:
        raise invalid_argument(f"`first` must be between 1 and {MAX_PAGE_SIZE}.")
    query = EntityQuery(filters=dict(filters), page_size=first, cursor=decode_after(after))
    try:
        page = data_product_for(entity_type).query(entity_type, query)
    except InvalidQuery as exc:
        raise invalid_argument(str(exc)) from exc
    except (AdapterError, CircuitOpenError, NoSourceFor) as exc:
        raise failure_error(failure_of(entity_type, exc)) from exc
    return connection_of(page)


def connection_of(page: EntityPage) -> dict[str, Any]:
    """A source's page as a connection's root value."""
    end_cursor = encode_after(page.next_cursor)
    nodes = [Ref(entity.id, EntityResult(entity, False, 0.0, "source"))
             for entity in page.entities]
    edges = [{"node": node, "cursor": end_cursor if n == len(nodes) - 1 else None}
             for n, node in enumerate(nodes)]
    return {"edges": edges, "nodes": nodes, "total_count": page.total,
            "page_info": {"end_cursor": end_cursor,
                          "has_next_page": page.next_cursor is not None}}


def list_field(connection: str, entity_type: str, filter_input: type[graphene.InputObjectType],
               fields: Mapping[str, FilterField], description: str) -> graphene.Field:
    """A root field `<x>List(filter, first, after)` answering ``connection`` pages."""

    def resolve(root: Any, info: GraphQLResolveInfo, first: int = DEFAULT_PAGE_SIZE,
                after: str | None = None, filter: Mapping[str, Any] | None = None  # noqa: A002
                ) -> dict[str, Any]:
        return read_page(entity_type, canonical_filters(filter, fields), first, after)

    return graphene.Field(graph_type(connection), required=True, filter=filter_input(),
                          first=graphene.Int(default_value=DEFAULT_PAGE_SIZE),
                          after=graphene.String(), resolver=resolve, description=description)


def edge_fields(node_type: str) -> type:
    """The fields of ``node_type``'s edge type."""

    class EdgeFields:
        node = graphene.Field(graph_type(node_type), required=True)
        cursor = graphene.String(description="Pass as `after` to resume after this edge; "
                                             "null but on a page's last edge.")

    return EdgeFields


def connection_fields(node: str) -> type:
    """The fields of a connection of ``node`` entities (see the module docstring)."""

    class ConnectionFields:
        edges = graphene.List(graphene.NonNull(graph_type(f"{node}Edge")), required=True)
        nodes = graphene.List(graphene.NonNull(graph_type(node)), required=True)
        page_info = graphene.Field(graph_type("PageInfo"), required=True)
        total_count = graphene.Int(description="Every matching entity, across pages, as "
                                               "the source counts them; null when it "
                                               "does not.")

    return ConnectionFields


def connection_types(node: str) -> tuple[type[graphene.ObjectType], type[graphene.ObjectType]]:
    """A graph's `<node>Edge` and `<node>Connection` types (each graph declares its own:
    their references resolve against the graph being built)."""
    edge = type(f"{node}Edge", (edge_fields(node), graphene.ObjectType), {})
    connection = type(f"{node}Connection", (connection_fields(node), graphene.ObjectType),
                      {"__doc__": f"A page of {node} entities (a Relay-style connection)."})
    return edge, connection
