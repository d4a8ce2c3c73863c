"""Resolvers every domain module builds its fields from: canonical attributes through the
request's loaders, and root lookups by id and by ids."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import graphene
from graphql import GraphQLResolveInfo

from apps.adapters.services import EntityResult
from apps.federation.loaders import entity_loader
from apps.federation.schema.common import Loaded, Ref, checked, report, then
from apps.federation.schema.graphs import graph_type


def attribute(entity_type: str, name: str,
              transform: Callable[[Any, dict[str, Any]], Any] | None = None) -> Any:
    """A resolver of one canonical attribute of ``entity_type`` (see :func:`from_result`).
    ``transform(value, attributes)`` shapes the value for the field."""

    def value_of(result: EntityResult | None) -> Any:
        if result is None:
            return None
        attributes = result.entity.attributes
        value = attributes.get(name)
        return transform(value, attributes) if transform else value

    return from_result(entity_type, value_of)


def from_result(entity_type: str, value_of: Callable[[EntityResult | None], Any]) -> Any:
    """A resolver of ``value_of(the entity's result)``: from the reference's preloaded
    entity, or through the request's loader (batched with the level's other loads)."""

    def resolve(ref: Ref, info: GraphQLResolveInfo) -> Any:
        preloaded = getattr(ref, "preloaded", None)  # `_entities` hands representations
        if preloaded is not None:
            return value_of(preloaded)

        def pick(loaded: Loaded) -> Any:
            report(info, entity_type, loaded)
            return value_of(loaded.result)

        return then(entity_loader(info, entity_type).load(str(ref.id)), pick)

    return resolve


def by_id(entity_type: str) -> Callable[..., Any]:
    """The root resolver of ``<type>(id)``: the entity, or null."""
    def resolve(root: Any, info: GraphQLResolveInfo, id: str) -> Any:  # noqa: A002
        path = info.path.as_list()
        return then(entity_loader(info, entity_type).load(id),
                    lambda loaded: checked(info, entity_type, loaded, path))

    return resolve


def by_ids(entity_type: str) -> Callable[..., Any]:
    """The root resolver of ``<types>(ids)``: the entities in the order asked, null for an
    id with none (or with a failure, which gets an error entry at its index)."""

    def resolve(root: Any, info: GraphQLResolveInfo, ids: list[str]) -> list[Any]:
        path = info.path.as_list()
        loader = entity_loader(info, entity_type)

        def at(index: int) -> Callable[[Loaded], Ref | None]:
            return lambda loaded: checked(info, entity_type, loaded, [*path, index])

        return [then(loader.load(key), at(i)) for i, key in enumerate(ids)]

    return resolve



def timestamp_field(entity_type: str, name: str) -> graphene.String:
    """An attribute holding an ISO 8601 timestamp (the canonical form is text)."""
    return graphene.String(resolver=attribute(entity_type, name),
                           description="ISO 8601 timestamp.")


def entity_field(type_name: str, entity_type: str, description: str) -> graphene.Field:
    """A root field `<type>(id: ID!)`: one entity by id (:func:`by_id`)."""
    return graphene.Field(graph_type(type_name), id=graphene.ID(required=True),
                          resolver=by_id(entity_type), description=description)


def entities_field(type_name: str, entity_type: str, description: str) -> graphene.List:
    """A root field `<types>(ids: [ID!]!)`: entities by ids (:func:`by_ids`)."""
    return graphene.List(graph_type(type_name),
                         ids=graphene.List(graphene.NonNull(graphene.ID), required=True),
                         resolver=by_ids(entity_type), description=description)
