"""The products domain: `Product @key(id)` (id = SKU), owned by the product API."""

from __future__ import annotations

from typing import Any

import graphene

from apps.federation.schema.common import Money, money
from apps.federation.schema.connections import FilterField, list_field
from apps.federation.schema.meta import meta_field
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
    meta = meta_field(ENTITY)
    sku = graphene.String(resolver=attribute(ENTITY, "sku"))
    name = graphene.String(resolver=attribute(ENTITY, "name"))
    price = graphene.Field(Money, resolver=attribute(ENTITY, "price", _price))
    stock = graphene.Int(resolver=attribute(ENTITY, "stock"),
                         description="Units available, reservations deducted.")
    updated_at = timestamp_field(ENTITY, "updated_at")


class ProductFilter(graphene.InputObjectType):
    """Products to list; every field given must match (the source applies them)."""

    sku = graphene.String(description="Exactly this SKU.")
    name_contains = graphene.String(description="Names containing this text, in any case.")
    in_stock = graphene.Boolean(description="true: units available; false: none left.")


PRODUCT_FILTERS = {"sku": FilterField("sku"), "name_contains": FilterField("name__icontains"),
                   "in_stock": FilterField("in_stock")}


class ProductQueries:
    product = entity_field("Product", ENTITY, "A product by SKU; null if there is none.")
    products = entities_field(
        "Product", ENTITY, "Products by SKUs, in the order asked; null for an unknown SKU.")
    product_list = list_field(
        "ProductConnection", ENTITY, ProductFilter, PRODUCT_FILTERS,
        "Products matching `filter`, a page at a time in SKU order; pass "
        "pageInfo.endCursor as `after` for the next page.")
