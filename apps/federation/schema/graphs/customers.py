"""The customers subgraph: `Customer @key(id)`, owned by the Directus source."""

from __future__ import annotations

import graphene
from graphene_federation import key

from apps.federation.schema.common import EntityBase
from apps.federation.schema.customers import CustomerFields, CustomerQueries


@key("id")
class Customer(CustomerFields, EntityBase, graphene.ObjectType):
    pass


class Query(CustomerQueries, graphene.ObjectType):
    pass


TYPES = [Customer]
