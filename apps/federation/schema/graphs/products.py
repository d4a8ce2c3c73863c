"""The products subgraph: `Product @key(id)` (id = SKU), owned by the product API."""

from __future__ import annotations

import graphene
from graphene_federation import key

from apps.federation.schema.common import EntityBase, PageInfoFields
from apps.federation.schema.connections import connection_types
from apps.federation.schema.products import ProductFields, ProductQueries
from apps.federation.schema.related import CustomerProductFields


class PageInfo(PageInfoFields, graphene.ObjectType):
    class Meta:
        description = PageInfoFields.__doc__


ProductEdge, ProductConnection = connection_types("Product")


@key("id")
class Product(ProductFields, EntityBase, graphene.ObjectType):
    pass


@key("id")
class Customer(CustomerProductFields, EntityBase, graphene.ObjectType):
    """Customers are the customers subgraph's; this one adds what they bought."""


class Query(ProductQueries, graphene.ObjectType):
    pass


TYPES = [PageInfo, Product, ProductEdge, ProductConnection, Customer]
