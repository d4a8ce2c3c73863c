"""The products domain: `Product @key(id)` (id = SKU), owned by the product API."""

from __future__ import annotations

from typing import Any

import graphene

from apps.federation.schema.common import Money, money
from apps.federation.schema.resolvers import (
    attribute,
    entities_field,
    entity_field,
    timestamp_field,
)

ENTITY = "product"


def _price(value: Any, attributes: dict[str, Any]) -> dict[str, str] | None:
    return money(value.get("amount"), value.get("currency")) if isinstance(value, dict) else None


class ProductFields:
    sku = graphene.String(resolver=attribute(ENTITY, "sku"))
    name = graphene.String(resolver=attribute(ENTITY, "name"))
    price = graphene.Field(Money, resolver=attribute(ENTITY, "price", _price))
    stock = graphene.Int(resolver=attribute(ENTITY, "stock"),
                         description="Units available, reservations deducted.")
    updated_at = timestamp_field(ENTITY, "updated_at")


class ProductQueries:
    product = entity_field("Product", ENTITY, "A product by SKU; null if there is none.")
    products = entities_field(
        "Product", ENTITY, "Products by SKUs, in the order asked; null for an unknown SKU.")
