"""The products subgraph: `Product @key(id)` (id = SKU), owned by the product API."""

from __future__ import annotations

import graphene
from graphene_federation import key

from apps.federation.schema.common import EntityBase, PageInfoFields
from apps.federation.schema.connections import connection_fields, edge_fields
from apps.federation.schema.products import ProductFields, ProductQueries
from apps.federation.schema.related import CustomerProductFields


class PageInfo(PageInfoFields, graphene.ObjectType):
    class Meta:
        description = PageInfoFields.__doc__


class ProductEdge(edge_fields("Product"), graphene.ObjectType):  # type: ignore[misc]
    pass


class ProductConnection(connection_fields("Product"), graphene.ObjectType):  # type: ignore[misc]
    """A page of products (a Relay-style connection)."""


@key("id")
class Product(ProductFields, EntityBase, graphene.ObjectType):
    pass


@key("id")
class Customer(CustomerProductFields, EntityBase, graphene.ObjectType):
    """Customers are the customers subgraph's; this one adds what they bought."""


class Query(ProductQueries, graphene.ObjectType):
    pass


TYPES = [PageInfo, Product, ProductEdge, ProductConnection, Customer]
