"""The unified schema and one Apollo Federation v2 subgraph per domain.

The domain modules (`customers`, `products`, `invoices`, `catalog`, `sagas`) hold each domain's
field classes and resolvers; the graph modules in `graphs/` declare the types each graph
serves from them (see `graphs/__init__.py`). This module builds the schemas.
"""

from __future__ import annotations

from functools import cache
from types import ModuleType

import graphene
from graphene_federation import LATEST_VERSION, build_schema, shareable

from apps.federation.schema.audit import LIVE_TYPES as AUDIT_TYPES
from apps.federation.schema.common import Money
from apps.federation.schema.graphs import building, unified
from apps.federation.schema.graphs import catalog as catalog_graph
from apps.federation.schema.graphs import customers as customers_graph
from apps.federation.schema.graphs import invoices as invoices_graph
from apps.federation.schema.graphs import products as products_graph
from apps.federation.schema.graphs import sagas as sagas_graph
from apps.federation.schema.sagas import LIVE_TYPES

#: each domain's subgraph, by the domain's name (its URL: /graphql/<domain>)
DOMAINS: dict[str, ModuleType] = {"customers": customers_graph, "products": products_graph,
                                  "invoices": invoices_graph, "catalog": catalog_graph,
                                  "sagas": sagas_graph}

#: GraphQL type -> the entity type whose changes can change it (for the response cache)
ENTITY_OF_TYPE = {"Customer": "customer", "Product": "product", "Invoice": "invoice",
                  "InvoiceItem": "invoice", "InvoicePage": "invoice"}

#: GraphQL types that change with no event the response cache hears: never cached
UNCACHED_TYPES = LIVE_TYPES | AUDIT_TYPES


@cache
def unified_schema() -> graphene.Schema:
    """Every domain in one graph: what `/graphql` serves."""
    with building(unified):
        return graphene.Schema(query=unified.Query, mutation=unified.Mutation,
                               types=unified.TYPES)


@cache
def subgraph_schema(domain: str) -> graphene.Schema:
    """One domain as a Federation v2 subgraph (`_service { sdl }`, `_entities`)."""
    graph = DOMAINS[domain]
    with building(graph):
        return build_schema(query=graph.Query, mutation=getattr(graph, "Mutation", None),
                            types=graph.TYPES, federation_version=LATEST_VERSION)


def schema_sdl_files() -> dict[str, str]:
    """Each schema's SDL by file name: ``unified.graphql`` and ``<domain>.graphql``.

    A subgraph's text is what its ``_service { sdl }`` answers, with the federation
    ``@link`` and ``@key`` directives (graphql-core's ``print_schema``, which
    graphene-django's ``graphql_schema`` command uses, drops them).
    """
    files = {"unified.graphql": str(unified_schema())}
    for domain in DOMAINS:
        # Asked, not printed: the subgraph's own text omits `_entities` and `_service`.
        result = subgraph_schema(domain).execute("{ _service { sdl } }")
        if result.errors:
            raise RuntimeError(f"The {domain} subgraph has no SDL: {result.errors}")
        files[f"{domain}.graphql"] = result.data["_service"]["sdl"]
    return {name: text.strip() + "\n" for name, text in files.items()}


# Money is a value type several subgraphs define identically: shareable, for composition.
shareable(Money)
