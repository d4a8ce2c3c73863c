"""`search(text, types, first)`: entities found by the words of their attributes, in the
catalog (PostgreSQL full-text search, indexed: see catalog migration 0006), as typed
entities (the `SearchResult` union); their fields load like any entity's, batched per type.

The catalog holds each entity's last known attributes (from change events), so a search
finds what the platform has seen; the fields then come from the source or its caches.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import graphene
from graphql import GraphQLResolveInfo

from apps.catalog import services as catalog_services
from apps.federation.schema.common import Ref, union_by_key
from apps.federation.schema.connections import invalid_argument
from apps.federation.schema.graphs import graph_type

MAX_RESULTS = 100
#: the entity types search finds, by GraphQL type
SEARCHABLE = {"Customer": "customer", "Product": "product", "Invoice": "invoice"}


@dataclass(frozen=True)
class Found(Ref):
    """A reference to a found entity, with its entity type (which member of the union)."""

    entity_type: str = ""


SearchableType = graphene.Enum("SearchableType", [(name.upper(), entity_type)
                                                  for name, entity_type in SEARCHABLE.items()])


def search_union(graph: Any) -> type[graphene.Union]:
    """The `SearchResult` union of ``graph``'s customer, product and invoice types."""
    return union_by_key(
        "SearchResult", "An entity found by `search`.",
        {entity_type: getattr(graph, name) for name, entity_type in SEARCHABLE.items()},
        key_of=lambda found: found.entity_type)


def resolve_search(root: Any, info: GraphQLResolveInfo, text: str,
                   types: list[str] | None = None, first: int = 20) -> list[Found]:
    if not 1 <= first <= MAX_RESULTS:
        raise invalid_argument(f"`first` must be between 1 and {MAX_RESULTS}.")
    if len(text) > 200:
        raise invalid_argument("`text` has at most 200 characters.")
    wanted = [getattr(t, "value", t) for t in types] if types else list(SEARCHABLE.values())
    return [Found(key.entity_id, entity_type=key.entity_type)
            for key in catalog_services.search_entities(text, wanted, first)]


class SearchQueries:
    search = graphene.List(
        graphene.NonNull(graph_type("SearchResult")), required=True,
        text=graphene.String(required=True, description="Words to find; each matches the "
                                                        "beginning of a word."),
        types=graphene.List(graphene.NonNull(SearchableType),
                            description="Only these kinds of entity (default: all)."),
        first=graphene.Int(default_value=20, description=f"1 to {MAX_RESULTS}."),
        resolver=resolve_search,
        description="Customers, products and invoices whose attributes hold every word of "
                    "`text`, best match first (from the catalog).")
