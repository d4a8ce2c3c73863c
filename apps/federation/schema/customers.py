"""The customers domain: `Customer @key(id)`, owned by the Directus source."""

from __future__ import annotations

from types import SimpleNamespace

import graphene

from apps.federation.schema.resolvers import attribute, by_id, by_ids

ENTITY = "customer"


def customer_fields(ns: SimpleNamespace) -> type:
    class CustomerFields:
        email = graphene.String(resolver=attribute(ENTITY, "email"))
        name = graphene.String(resolver=attribute(ENTITY, "name"))
        status = graphene.String(resolver=attribute(ENTITY, "status"),
                                 description="active or archived")
        created_at = graphene.String(resolver=attribute(ENTITY, "created_at"),
                                     description="ISO 8601 timestamp.")
        updated_at = graphene.String(resolver=attribute(ENTITY, "updated_at"),
                                     description="ISO 8601 timestamp.")

    return CustomerFields


def query_fields(ns: SimpleNamespace) -> type:
    class CustomerQueries:
        customer = graphene.Field(lambda: ns.Customer, id=graphene.ID(required=True),
                                  resolver=by_id(ENTITY),
                                  description="A customer by id; null if there is none.")
        customers = graphene.List(
            lambda: ns.Customer, ids=graphene.List(graphene.NonNull(graphene.ID),
                                                   required=True),
            resolver=by_ids(ENTITY),
            description="Customers by ids, in the order asked; null for an unknown id.")

    return CustomerQueries


TYPES = {"Customer": customer_fields}
QUERY = query_fields
