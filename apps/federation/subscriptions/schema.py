"""The `Subscription` root type: `entityChanged`, `sagaUpdated`, `catalogRelationshipAdded`.

Each root field's value is built from one live message (messages.py); below it, the
subscriber's selection resolves like a query's: an entity's own attributes come from the
change event (the canonical entity after the change: no source call, and no cache in
between that could still hold the version before it), everything it links to through the
request's loaders and the data products' caches; a saga is read through the sagas service.
Which events reach a subscription (its type, ids, fields) is decided before execution, in
documents.py, from the root field's arguments.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

import graphene
from graphql import GraphQLResolveInfo

from apps.adapters.base import CanonicalEntity
from apps.adapters.services import EntityResult
from apps.federation.schema.common import Ref, union_by_key
from apps.federation.schema.graphs import graph_type
from apps.federation.schema.sagas import resolve_saga

#: entity type (as events name it) -> the GraphQL type that serves it
GRAPHQL_TYPE_OF_ENTITY = {"customer": "Customer", "product": "Product", "invoice": "Invoice"}
#: the most ids one `entityChanged` may follow, and fields it may filter on
MAX_IDS = 100
MAX_FIELDS = 50


@dataclass(frozen=True)
class ChangedRef(Ref):
    """A reference that knows its GraphQL type (to pick the ChangedEntity member)."""

    graphql_type: str = ""


class EntityChangeFields:
    """One change of one entity at its source. A deletion is a tombstone: `deleted` true,
    `entity` null."""

    event_id = graphene.ID(required=True, description="The change event's id (dedupe by it).")
    type = graphene.String(required=True, description='The entity type, e.g. "customer".')
    id = graphene.ID(required=True)
    change = graphene.String(required=True, description="CREATED, UPDATED or DELETED.")
    deleted = graphene.Boolean(required=True)
    version = graphene.Float(required=True, description="The entity's version at its source.")
    changed_fields = graphene.List(graphene.NonNull(graphene.String), required=True,
                                   description="Canonical attributes the change touched.")
    occurred_at = graphene.DateTime(required=True, description="When the source changed it.")


class EntityReference(graphene.ObjectType):
    type = graphene.String(required=True)
    id = graphene.ID(required=True)


class RelationshipAdded(graphene.ObjectType):
    """A relationship the catalog recorded for the first time."""

    event_id = graphene.ID(required=True)
    relationship_type = graphene.String(required=True, description='e.g. "billed_to".')
    subject = graphene.Field(EntityReference, required=True)
    object = graphene.Field(EntityReference, required=True)
    origin = graphene.String(required=True, description="DERIVED (from source data, e.g. a "
                                                         "foreign key) or MANUAL (asserted by a "
                                                         "person or an API call).")
    occurred_at = graphene.DateTime(required=True)


def _when(message: dict[str, Any]) -> datetime:
    return datetime.fromtimestamp(message["timestamp_ms"] / 1000, tz=UTC)


def _changed_entity(message: dict[str, Any]) -> ChangedRef | None:
    graphql_type = GRAPHQL_TYPE_OF_ENTITY.get(message["entity_type"])
    if message["deleted"] or graphql_type is None:
        return None
    entity = CanonicalEntity(type=message["entity_type"], id=message["entity_id"],
                             source=message["source"], version=message["version"],
                             attributes=dict(message["attributes"] or {}),
                             fetched_at=_when(message))
    age = max(0.0, datetime.now(tz=UTC).timestamp() - message["timestamp_ms"] / 1000)
    return ChangedRef(message["entity_id"], EntityResult(entity, stale=False, age_seconds=age,
                                                         level="event"),
                      graphql_type=graphql_type)


def resolve_entity_changed(root: dict[str, Any], info: GraphQLResolveInfo,
                           **arguments: Any) -> dict[str, Any]:
    return {"event_id": root["event_id"], "type": root["entity_type"],
            "id": root["entity_id"], "change": root["change"], "deleted": root["deleted"],
            "version": root["version"], "changed_fields": root["changed_fields"],
            "occurred_at": _when(root), "entity": _changed_entity(root)}


def resolve_saga_updated(root: dict[str, Any], info: GraphQLResolveInfo, id: str) -> Any:  # noqa: A002
    return resolve_saga(root, info, root["saga_id"])


def resolve_relationship_added(root: dict[str, Any], info: GraphQLResolveInfo,
                               **arguments: Any) -> dict[str, Any]:
    return {"event_id": root["event_id"], "relationship_type": root["relationship_type"],
            "subject": root["subject"], "object": root["object"], "origin": root["origin"],
            "occurred_at": _when(root)}


def _changed_entity_union() -> type[graphene.Union]:
    return union_by_key(
        "ChangedEntity", "The entity a change event is about, as it is after the change.",
        {name: graph_type(name)() for name in GRAPHQL_TYPE_OF_ENTITY.values()},
        key_of=lambda ref: ref.graphql_type)


def subscription_type() -> type[graphene.ObjectType]:
    """The `Subscription` root type of the graph being built (call inside ``building``)."""

    class EntityChange(EntityChangeFields, graphene.ObjectType):
        __doc__ = EntityChangeFields.__doc__
        entity = graphene.Field(_changed_entity_union(), description="Null for a deletion.")

    class Subscription(graphene.ObjectType):
        """Live changes over WebSocket (graphql-transport-ws) at `/graphql`."""

        entity_changed = graphene.Field(
            EntityChange, required=True, resolver=resolve_entity_changed,
            type=graphene.String(required=True,
                                 description=", ".join(GRAPHQL_TYPE_OF_ENTITY)),
            ids=graphene.List(graphene.NonNull(graphene.ID),
                              description=f"Only these entities (at most {MAX_IDS}); all "
                                          "if omitted."),
            fields=graphene.List(graphene.NonNull(graphene.String),
                                 description="Only changes touching one of these canonical "
                                             "attributes; deletions always."),
            description="Every change of entities of one type, as it reaches the platform.")
        saga_updated = graphene.Field(
            graph_type("Saga"), resolver=resolve_saga_updated, id=graphene.ID(required=True),
            description="The saga, each time it changes state.")
        catalog_relationship_added = graphene.Field(
            RelationshipAdded, required=True, resolver=resolve_relationship_added,
            type=graphene.String(required=True), id=graphene.ID(required=True),
            description="Relationships the catalog records for this entity, either end.")

    return Subscription
