"""The customers domain: `Customer @key(id)`, owned by the Directus source."""

from __future__ import annotations

import graphene

from apps.federation.schema.resolvers import (
    attribute,
    entities_field,
    entity_field,
    timestamp_field,
)

ENTITY = "customer"


class CustomerFields:
    email = graphene.String(resolver=attribute(ENTITY, "email"))
    name = graphene.String(resolver=attribute(ENTITY, "name"))
    status = graphene.String(resolver=attribute(ENTITY, "status"),
                             description="active or archived")
    created_at = timestamp_field(ENTITY, "created_at")
    updated_at = timestamp_field(ENTITY, "updated_at")


class CustomerQueries:
    customer = entity_field("Customer", ENTITY, "A customer by id; null if there is none.")
    customers = entities_field(
        "Customer", ENTITY, "Customers by ids, in the order asked; null for an unknown id.")
