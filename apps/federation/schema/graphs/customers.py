"""The customers subgraph: `Customer @key(id)`, owned by the Directus source."""

from __future__ import annotations

import graphene
from graphene_federation import key

from apps.federation.schema.common import EntityBase, PageInfoFields
from apps.federation.schema.connections import connection_fields, edge_fields
from apps.federation.schema.customers import CustomerFields, CustomerQueries


class PageInfo(PageInfoFields, graphene.ObjectType):
    class Meta:
        description = PageInfoFields.__doc__


class CustomerEdge(edge_fields("Customer"), graphene.ObjectType):  # type: ignore[misc]
    pass


class CustomerConnection(connection_fields("Customer"), graphene.ObjectType):  # type: ignore[misc]
    """A page of customers (a Relay-style connection)."""


@key("id")
class Customer(CustomerFields, EntityBase, graphene.ObjectType):
    pass


class Query(CustomerQueries, graphene.ObjectType):
    pass


TYPES = [PageInfo, Customer, CustomerEdge, CustomerConnection]
