"""Entity types declared in source descriptions, in the unified graph without code.

A tenant's descriptions are data, so its graph is built from them: the unified graph's
types, plus for each declared entity type its own type (`supplier` -> `Supplier`, one field
per declared field, `id` included by `EntityBase`), the root fields `<type>(id)` and
`<type>s(ids)`, and for each declared relationship

- ``name``: a field on the declared type that follows it (`Supplier.products`), and
- ``reverse``: a field on the type it points to that comes back (`Product.supplier`),
  answered from the catalog's relationship graph in one query per level (the first
  related entity by id whose record still points here), then loaded like any entity.

The graph is a module-like namespace, so :func:`graph_type` references resolve against it
(the `Product` here is the unified one plus the reverse fields).
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from types import ModuleType
from typing import Any

import graphene
from graphql import GraphQLResolveInfo

from apps.adapters.base import AdapterError
from apps.adapters.services import Description, NoSourceFor, Relation, data_product_for
from apps.catalog import services as catalog_services
from apps.federation.loaders import _loader
from apps.federation.schema.common import EntityBase, Money, Ref, money
from apps.federation.schema.graphs import graph_type, unified
from apps.federation.schema.meta import meta_field
from apps.federation.schema.resolvers import (
    attribute,
    entities_field,
    entity_field,
    timestamp_field,
)
from apps.federation.schema.search import search_union
from dictamesh.resilience import CircuitOpenError

#: entity types the unified graph has types for already (a description of one of them,
#: such as the products API's, serves that type instead of declaring a new one)
BUILT_IN = {"customer": "Customer", "product": "Product", "invoice": "Invoice"}


def type_name(entity_type: str) -> str:
    return BUILT_IN.get(entity_type) or "".join(p.title() for p in entity_type.split("_"))


def _money(value: Any, attributes: dict[str, Any]) -> dict[str, str] | None:
    return money(value.get("amount"), value.get("currency")) if isinstance(value, dict) else None


def _field(entity_type: str, name: str, kind: str) -> Any:
    if kind == "datetime":
        return timestamp_field(entity_type, name)
    if kind == "money":
        return graphene.Field(Money, resolver=attribute(entity_type, name, _money))
    scalar = {"string": graphene.String, "integer": graphene.Int, "decimal": graphene.String,
              "boolean": graphene.Boolean}
    if kind == "string_list":
        return graphene.List(graphene.String, resolver=attribute(entity_type, name))
    return scalar[kind](resolver=attribute(entity_type, name))


def _refs(value: Any, attributes: dict[str, Any]) -> Any:
    if isinstance(value, list):
        return [Ref(str(v)) for v in value]
    return None if value is None else Ref(str(value))


def _linked(entity: Any, field: str, object_id: str) -> bool:
    value = entity.attributes.get(field)
    return object_id in map(str, value) if isinstance(value, list) else str(value) == object_id


def _reverse_resolver(subject_type: str, relation: Relation) -> Callable[..., Any]:
    """Resolve the first ``subject_type`` entity related to this one, through a
    per-request loader: one catalog query for the level's objects, then one read of the
    candidates (through their data product and its cache) to keep only those whose record
    still points here: the catalog keeps edges a later change dropped."""
    def batch(ids: list[str]) -> list[Ref | None]:
        found = catalog_services.related_subjects(subject_type, relation.type,
                                                  relation.entity_type, ids)
        candidates = sorted({subject for subjects in found.values() for subject in subjects})
        current: dict[str, Any] = {}
        if candidates:
            try:
                lookup = data_product_for(subject_type).get_entities(subject_type, candidates)
                current = {key: result.entity for key, result in lookup.found.items()}
            except (AdapterError, CircuitOpenError, NoSourceFor):
                pass  # the source is out: the catalog's answer is the best there is
        answers: list[Ref | None] = []
        for key in ids:
            subjects = [s for s in found.get(key, ()) if s not in current
                        or _linked(current[s], relation.field, key)]
            answers.append(Ref(subjects[0]) if subjects else None)
        return answers

    def resolve(ref: Ref, info: GraphQLResolveInfo) -> Any:
        name = f"reverse:{subject_type}:{relation.type}:{relation.entity_type}"
        return _loader(info, name, batch).load(str(ref.id))

    return resolve


def declared_graph(descriptions: Sequence[Description]) -> ModuleType:
    """The unified graph plus the declared entity types (see the module docstring)."""
    graph = ModuleType("declared_graph")
    graph.__dict__.update({k: v for k, v in vars(unified).items() if not k.startswith("__")})
    new_types: dict[str, dict[str, Any]] = {}
    roots: dict[str, Any] = {}
    for description in descriptions:
        entity_type = description.entity_type
        if entity_type in BUILT_IN or type_name(entity_type) in new_types:
            continue
        name = type_name(entity_type)
        fields = {f.name: _field(entity_type, f.name, f.type)
                  for f in description.fields if f.name != "id"}
        fields["meta"] = meta_field(entity_type)
        for relation in description.relationships:
            if relation.name:
                target = graph_type(type_name(relation.entity_type))
                many = description.field(relation.field).type == "string_list"
                fields[relation.name] = (graphene.List if many else graphene.Field)(
                    target, resolver=attribute(entity_type, relation.field, _refs),
                    description=f"The {relation.entity_type} entities this {entity_type} "
                                f"{relation.type}.")
        new_types[name] = fields
        roots[entity_type] = entity_field(name, entity_type,
                                          f"A {entity_type} by id; null if there is none.")
        roots[f"{entity_type}s"] = entities_field(
            name, entity_type, f"{name} entities by ids, in the order asked; null for an "
                               "unknown id.")
    extended: dict[str, dict[str, Any]] = {}
    for description in descriptions:
        for relation in description.relationships:
            pointed = type_name(relation.entity_type)
            if relation.reverse and (pointed in new_types or hasattr(graph, pointed)):
                extended.setdefault(pointed, {})[relation.reverse] = graphene.Field(
                    graph_type(type_name(description.entity_type)),
                    resolver=_reverse_resolver(description.entity_type, relation),
                    description=f"The {description.entity_type} that {relation.type} this "
                                f"{relation.entity_type} (by the catalog's relationship "
                                "graph).")
    types: list[Any] = list(unified.TYPES)
    for name, fields in new_types.items():
        cls = type(name, (EntityBase, graphene.ObjectType),
                   {**fields, **extended.pop(name, {})})
        setattr(graph, name, cls)
        types.append(cls)
    for name, fields in extended.items():
        base = getattr(graph, name)
        cls = type(name, (base,), fields)
        setattr(graph, name, cls)
        types = [cls if t is base else t for t in types]
    graph.__dict__.update(Query=type("Query", (unified.Query,), roots), TYPES=types)
    # The union's members are this graph's types (its Product may carry reverse fields).
    graph.__dict__.update(SearchResult=search_union(graph))
    return graph
