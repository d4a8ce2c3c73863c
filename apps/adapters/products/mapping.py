"""Product API records as canonical products: the one place that reads a product record."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from apps.adapters.base import CanonicalEntity, EntitySchema, FieldSpec
from apps.adapters.cursors import text_key_position
from apps.adapters.record_reader import RecordReader, epoch_ms, format_timestamp

ENTITY_TYPE = "product"

SCHEMA = EntitySchema(entity_type=ENTITY_TYPE, version=1, key="id", fields=(
    FieldSpec("sku", "string", description="the stock-keeping unit; also the entity id"),
    FieldSpec("name", "string"),
    FieldSpec("price", "money", description='{"amount": decimal string, "currency": ISO 4217}'),
    FieldSpec("stock", "integer", description="units available, reservations deducted"),
    FieldSpec("updated_at", "datetime"),
))

Position = tuple[datetime, str]
"""A product's place in change order: (updated_at, sku)."""


def to_product(record: Any, source: str, record_id: str | None = None) -> CanonicalEntity:
    """The canonical product, or MalformedRecord naming the SKU and every bad field."""
    reader = RecordReader(record, entity_type=ENTITY_TYPE, source=source, id_field="sku",
                          record_id=record_id)
    sku, name = reader.text("sku"), reader.text("name")
    price = reader.nested("price")
    amount, currency = price.decimal("amount"), price.currency("currency")
    stock = reader.integer("stock", minimum=0)
    updated = reader.timestamp("updated_at")
    reader.check()
    return CanonicalEntity(
        type=ENTITY_TYPE, id=sku, source=source, version=epoch_ms(updated),
        attributes={"sku": sku, "name": name,
                    "price": {"amount": str(amount), "currency": currency},
                    "stock": stock, "updated_at": format_timestamp(updated)})


def position(record: Any) -> Position | None:
    """Where the product sits in change order, or None when its SKU or time is unreadable."""
    return text_key_position(record, "sku", "updated_at")
