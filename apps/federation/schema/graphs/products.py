"""The products subgraph: `Product @key(id)` (id = SKU), owned by the product API."""

from __future__ import annotations

import graphene
from graphene_federation import key

from apps.federation.schema.common import EntityBase
from apps.federation.schema.products import ProductFields, ProductQueries


@key("id")
class Product(ProductFields, EntityBase, graphene.ObjectType):
    pass


class Query(ProductQueries, graphene.ObjectType):
    pass


TYPES = [Product]
