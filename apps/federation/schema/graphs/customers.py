"""The customers subgraph: `Customer @key(id)`, owned by the Directus source."""

from __future__ import annotations

import graphene
from graphene_federation import key

from apps.federation.schema.common import EntityBase, PageInfoFields
from apps.federation.schema.connections import connection_types
from apps.federation.schema.customers import CustomerFields, CustomerQueries


class PageInfo(PageInfoFields, graphene.ObjectType):
    class Meta:
        description = PageInfoFields.__doc__


CustomerEdge, CustomerConnection = connection_types("Customer")


@key("id")
class Customer(CustomerFields, EntityBase, graphene.ObjectType):
    pass


class Query(CustomerQueries, graphene.ObjectType):
    pass


TYPES = [PageInfo, Customer, CustomerEdge, CustomerConnection]
