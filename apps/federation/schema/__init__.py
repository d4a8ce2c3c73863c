"""The unified schema and one Apollo Federation v2 subgraph per domain module.

Each domain module contributes fields to GraphQL types by name (its own types, and the
types of other domains it extends by key) and a set of root query fields. A schema is built
from a list of modules: the unified schema from all of them, a subgraph from one. Types are
built per schema, so the invoices subgraph's `Customer` is a key-only stub carrying just
`invoices`, while the unified `Customer` has every module's fields.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from functools import cache
from types import ModuleType, SimpleNamespace

import graphene
from graphene_federation import LATEST_VERSION, build_schema, key, shareable

from apps.federation.schema import catalog, customers, invoices, products
from apps.federation.schema.common import Money, PageInfoFields

DOMAINS: dict[str, ModuleType] = {"customers": customers, "products": products,
                                  "invoices": invoices, "catalog": catalog}

#: entity types and their key fields
KEYS = {"Customer": "id", "Product": "id", "Invoice": "id", **catalog.KEYS}

#: GraphQL type -> the entity type whose changes can change it (for the response cache)
ENTITY_OF_TYPE = {"Customer": "customer", "Product": "product", "Invoice": "invoice",
                  "InvoiceItem": "invoice", "InvoicePage": "invoice"}


class _EntityBase:
    """What every entity type has in every schema: its key, and `_entities` support."""

    id = graphene.ID(required=True)

    def _resolve_reference(self, info: graphene.ResolveInfo) -> graphene.ObjectType:
        # The representation itself (its type tells `_Entity` which member it is): owned
        # fields load the entity through the request's loaders, one batch for all of them.
        return self


@dataclass
class _Types:
    ns: SimpleNamespace = field(default_factory=SimpleNamespace)
    built: list[type[graphene.ObjectType]] = field(default_factory=list)


def _build_types(modules: Sequence[ModuleType], federated: bool) -> _Types:
    contributions: dict[str, list[Callable[[SimpleNamespace], type]]] = {}
    for module in modules:
        for name, contribute in module.TYPES.items():
            contributions.setdefault(name, []).append(contribute)
    types = _Types()
    types.ns.PageInfo = type("PageInfo", (PageInfoFields, graphene.ObjectType), {
        "Meta": type("Meta", (), {"description": PageInfoFields.__doc__})})
    for name, contributors in contributions.items():
        mixins = [contribute(types.ns) for contribute in contributors]
        bases: tuple[type, ...] = (*mixins, graphene.ObjectType)
        if name in KEYS and KEYS[name] == "id":
            bases = (*mixins, _EntityBase, graphene.ObjectType)
        cls: type[graphene.ObjectType] = type(name, bases, {"Meta": type("Meta", (), {
            "name": name, "description": mixins[0].__doc__})})
        if federated and name in KEYS:
            cls = key(KEYS[name])(cls)
        setattr(types.ns, name, cls)
        types.built.append(cls)
    return types


def _query(modules: Sequence[ModuleType], ns: SimpleNamespace) -> type[graphene.ObjectType]:
    roots = tuple(module.QUERY(ns) for module in modules)
    return type("Query", (*roots, graphene.ObjectType), {})


@cache
def unified_schema() -> graphene.Schema:
    """Every domain in one graph: what `/graphql` serves."""
    modules = list(DOMAINS.values())
    types = _build_types(modules, federated=False)
    return graphene.Schema(query=_query(modules, types.ns), types=types.built)


@cache
def subgraph_schema(domain: str) -> graphene.Schema:
    """One domain as a Federation v2 subgraph (`_service { sdl }`, `_entities`)."""
    module = DOMAINS[domain]
    types = _build_types([module], federated=True)
    return build_schema(query=_query([module], types.ns), types=types.built,
                        federation_version=LATEST_VERSION)


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
