"""The products domain: `Product @key(id)` (id = SKU), owned by the product API."""

from __future__ import annotations

from types import SimpleNamespace
from typing import Any

import graphene

from apps.federation.schema.common import Money, money
from apps.federation.schema.resolvers import attribute, by_id, by_ids

ENTITY = "product"


def _price(value: Any, attributes: dict[str, Any]) -> dict[str, str] | None:
    return money(value.get("amount"), value.get("currency")) if isinstance(value, dict) else None


def product_fields(ns: SimpleNamespace) -> type:
    class ProductFields:
        sku = graphene.String(resolver=attribute(ENTITY, "sku"))
        name = graphene.String(resolver=attribute(ENTITY, "name"))
        price = graphene.Field(Money, resolver=attribute(ENTITY, "price", _price))
        stock = graphene.Int(resolver=attribute(ENTITY, "stock"),
                             description="Units available, reservations deducted.")
        updated_at = graphene.String(resolver=attribute(ENTITY, "updated_at"),
                                     description="ISO 8601 timestamp.")

    return ProductFields


def query_fields(ns: SimpleNamespace) -> type:
    class ProductQueries:
        product = graphene.Field(lambda: ns.Product, id=graphene.ID(required=True),
                                 resolver=by_id(ENTITY),
                                 description="A product by SKU; null if there is none.")
        products = graphene.List(
            lambda: ns.Product, ids=graphene.List(graphene.NonNull(graphene.ID),
                                                  required=True),
            resolver=by_ids(ENTITY),
            description="Products by SKUs, in the order asked; null for an unknown SKU.")

    return ProductQueries


TYPES = {"Product": product_fields}
QUERY = query_fields
