"""E-commerce invoice records as canonical invoices: the one place that reads an invoice.

An invoice names its customer (a Directus customer id) and its items; each item is the
canonical `invoice_item` `<invoice id>/<line>` (lines numbered from 1 in the order the API
lists them), which references a product by SKU:

    invoice --billed_to--> customer          invoice --has_item--> invoice_item
    invoice_item --references--> product
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from apps.adapters.base import CanonicalEntity, EntitySchema, FieldSpec
from apps.adapters.cursors import text_key_position
from apps.adapters.record_reader import RecordReader, epoch_ms, format_timestamp
from dictamesh.events.payload import PayloadRelationship

ENTITY_TYPE = "invoice"
ITEM_TYPE = "invoice_item"

SCHEMA = EntitySchema(entity_type=ENTITY_TYPE, version=1, key="id", fields=(
    FieldSpec("invoice_number", "string"),
    FieldSpec("customer_id", "string", description="the Directus customer billed"),
    FieldSpec("status", "string", description="open, paid, refunded or cancelled"),
    FieldSpec("currency", "string", description="ISO 4217, shared by every item"),
    FieldSpec("total", "decimal", description="decimal string"),
    FieldSpec("items", "list", description='[{"line", "sku", "quantity", "unit_price", '
                                           '"total"}], amounts as decimal strings'),
    FieldSpec("created_at", "datetime"),
    FieldSpec("updated_at", "datetime"),
))

Position = tuple[datetime, str]
"""An invoice's place in change order: (updated_at, id), the API's own list order."""


def to_invoice(record: Any, source: str, record_id: str | None = None) -> CanonicalEntity:
    """The canonical invoice, or MalformedRecord naming the invoice and every bad field."""
    reader = RecordReader(record, entity_type=ENTITY_TYPE, source=source, id_field="id",
                          record_id=record_id)
    key, number = reader.text("id"), reader.text("invoice_number")
    customer_id = reader.integer("customer_id", minimum=1)
    status, currency = reader.text("status"), reader.currency("currency")
    total = reader.decimal("total")
    items: list[dict[str, Any]] = []
    for line, fields in enumerate(reader.each("items"), start=1):
        sku, quantity = fields.text("sku"), fields.integer("quantity", minimum=1)
        unit_price = fields.decimal("unit_price")
        items.append({"line": line, "sku": sku, "quantity": quantity,
                      "unit_price": str(unit_price), "total": str(unit_price * quantity)})
    created, updated = reader.timestamp("created_at"), reader.timestamp("updated_at")
    reader.check()
    relationships = [PayloadRelationship("billed_to", "customer", str(customer_id))]
    for item in items:
        line_id = f"{key}/{item['line']}"
        relationships += [
            PayloadRelationship("has_item", ITEM_TYPE, line_id),
            PayloadRelationship("references", "product", item["sku"],
                                subject_type=ITEM_TYPE, subject_id=line_id),
        ]
    return CanonicalEntity(
        type=ENTITY_TYPE, id=key, source=source, version=epoch_ms(updated),
        attributes={"invoice_number": number, "customer_id": str(customer_id),
                    "status": status, "currency": currency, "total": str(total),
                    "items": items, "created_at": format_timestamp(created),
                    "updated_at": format_timestamp(updated)},
        relationships=tuple(relationships))


def position(record: Any) -> Position | None:
    """Where the invoice sits in change order, or None when its id or time is unreadable."""
    return text_key_position(record, "id", "updated_at")
