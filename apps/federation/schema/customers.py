"""The customers domain: `Customer @key(id)`, owned by the Directus source."""

from __future__ import annotations

import graphene

from apps.federation.schema.connections import FilterField, list_field, timestamp_text
from apps.federation.schema.meta import meta_field
from apps.federation.schema.resolvers import (
    attribute,
    entities_field,
    entity_field,
    timestamp_field,
)

ENTITY = "customer"


class CustomerFields:
    meta = meta_field(ENTITY)
    email = graphene.String(resolver=attribute(ENTITY, "email"))
    name = graphene.String(resolver=attribute(ENTITY, "name"))
    status = graphene.String(resolver=attribute(ENTITY, "status"),
                             description="active or archived")
    created_at = timestamp_field(ENTITY, "created_at")
    updated_at = timestamp_field(ENTITY, "updated_at")


class CustomerFilter(graphene.InputObjectType):
    """Customers to list; every field given must match (the source applies them)."""

    email = graphene.String(description="Exactly this email.")
    status = graphene.String(description="active or archived")
    updated_after = graphene.DateTime(description="Changed (or, never changed, created) "
                                                  "strictly after this moment.")


CUSTOMER_FILTERS = {"email": FilterField("email"), "status": FilterField("status"),
                    "updated_after": FilterField("updated_at__gt", timestamp_text)}


class CustomerQueries:
    customer = entity_field("Customer", ENTITY, "A customer by id; null if there is none.")
    customers = entities_field(
        "Customer", ENTITY, "Customers by ids, in the order asked; null for an unknown id.")
    customer_list = list_field(
        "CustomerConnection", ENTITY, CustomerFilter, CUSTOMER_FILTERS,
        "Customers matching `filter`, a page at a time in id order; pass "
        "pageInfo.endCursor as `after` for the next page.")
