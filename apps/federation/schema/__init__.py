"""The unified schema and one Apollo Federation v2 subgraph per domain.

The domain modules (`customers`, `products`, `invoices`, `catalog`, `sagas`) hold each domain's
field classes and resolvers; the graph modules in `graphs/` declare the types each graph
serves from them (see `graphs/__init__.py`). This module builds the schemas.
"""

from __future__ import annotations

from functools import cache, lru_cache
from types import ModuleType

import graphene
from graphene_federation import FederationVersion, build_schema, shareable

from apps.adapters import services as adapter_services
from apps.federation.schema.audit import LIVE_TYPES as AUDIT_TYPES
from apps.federation.schema.common import Money
from apps.federation.schema.declared import declared_graph
from apps.federation.schema.edge import guard_arguments, guard_entities
from apps.federation.schema.graphs import building, unified
from apps.federation.schema.graphs import catalog as catalog_graph
from apps.federation.schema.graphs import customers as customers_graph
from apps.federation.schema.graphs import invoices as invoices_graph
from apps.federation.schema.graphs import products as products_graph
from apps.federation.schema.graphs import sagas as sagas_graph
from apps.federation.schema.meta import EntityMeta
from apps.federation.schema.sagas import LIVE_TYPES
from apps.federation.schema.sources import LIVE_TYPES as SOURCE_TYPES
from dictamesh.tenancy import current_schema, tenant_context

#: each domain's subgraph, by the domain's name (its URL: /graphql/<domain>)
DOMAINS: dict[str, ModuleType] = {"customers": customers_graph, "products": products_graph,
                                  "invoices": invoices_graph, "catalog": catalog_graph,
                                  "sagas": sagas_graph}

#: GraphQL type -> the entity type whose changes can change it (for the response cache)
ENTITY_OF_TYPE = {"Customer": "customer", "Product": "product", "Invoice": "invoice",
                  "InvoiceItem": "invoice", "InvoicePage": "invoice", "InvoiceEdge": "invoice",
                  "CustomerConnection": "customer", "CustomerEdge": "customer",
                  "ProductConnection": "product", "ProductEdge": "product"}

#: GraphQL types that change with no event the response cache hears (and freshness, which
#: ages by the second): never cached
UNCACHED_TYPES = LIVE_TYPES | AUDIT_TYPES | SOURCE_TYPES | {"EntityMeta"}

#: The subgraphs' `@link` federation version: the highest that both Apollo's
#: @apollo/composition and The Guild's @theguild/federation-composition accept (the Guild's
#: 0.27 refuses v2.10 and v2.11, graphene-federation's LATEST_VERSION).
#: devtools/federation-check composes the subgraphs with both; raise this with it.
FEDERATION_VERSION = FederationVersion.VERSION_2_9


@cache
def unified_schema() -> graphene.Schema:
    """Every domain in one graph: what `/graphql` serves."""
    with building(unified):
        schema = graphene.Schema(query=unified.Query, mutation=unified.Mutation,
                                 types=unified.TYPES)
    guard_arguments(schema.graphql_schema)
    return schema


def tenant_schema() -> graphene.Schema:
    """What `/graphql` serves the current tenant: the unified schema, plus the entity types
    its source descriptions declare (see `declared.py`), rebuilt when one of them changes."""
    versions = adapter_services.description_versions()
    if not versions:
        return unified_schema()
    return _declared_schema(current_schema(), versions)


@lru_cache(maxsize=64)
def _declared_schema(tenant: str,
                     versions: tuple[tuple[str, int, str], ...]) -> graphene.Schema:
    # ``versions`` is the cache key: the descriptions read here are those versions (or,
    # after a save in between, newer ones, which the next request's key rebuilds).
    graph = declared_graph([description for _, description
                            in adapter_services.declared_descriptions()])
    with building(graph):
        schema = graphene.Schema(query=graph.Query, mutation=unified.Mutation,
                                 types=graph.TYPES)
    guard_arguments(schema.graphql_schema)
    return schema


@cache
def subgraph_schema(domain: str) -> graphene.Schema:
    """One domain as a Federation v2 subgraph (`_service { sdl }`, `_entities`)."""
    graph = DOMAINS[domain]
    with building(graph):
        schema = build_schema(query=graph.Query, mutation=getattr(graph, "Mutation", None),
                              types=graph.TYPES, federation_version=FEDERATION_VERSION)
    guard_arguments(schema.graphql_schema)
    guard_entities(schema.graphql_schema)
    return schema


def schema_sdl_files(tenant: str | None = None) -> dict[str, str]:
    """Each schema's SDL by file name: ``unified.graphql`` and ``<domain>.graphql``. With
    ``tenant``, ``unified.graphql`` is what `/graphql` serves that tenant: with the entity
    types its source descriptions declare.

    A subgraph's text is what its ``_service { sdl }`` answers, with the federation
    ``@link`` and ``@key`` directives (graphql-core's ``print_schema``, which
    graphene-django's ``graphql_schema`` command uses, drops them).
    """
    if tenant is None:
        files = {"unified.graphql": str(unified_schema())}
    else:
        with tenant_context(tenant):
            files = {"unified.graphql": str(tenant_schema())}
    for domain in DOMAINS:
        # Asked, not printed: the subgraph's own text omits `_entities` and `_service`.
        result = subgraph_schema(domain).execute("{ _service { sdl } }")
        if result.errors:
            raise RuntimeError(f"The {domain} subgraph has no SDL: {result.errors}")
        files[f"{domain}.graphql"] = result.data["_service"]["sdl"]
    return {name: text.strip() + "\n" for name, text in files.items()}


# Value types several subgraphs define identically: shareable, for composition.
shareable(Money)
shareable(EntityMeta)
