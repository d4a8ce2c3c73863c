"""Directus `customers` items as canonical customers: the one place that reads an item.

Directus sets `date_created` on create and leaves `date_updated` null until the first
update, so a customer's effective update time (its version, its `updated_at` and its place in
change order) is `date_updated`, or `date_created` while it has never been updated.
"""

from __future__ import annotations

from collections.abc import Iterable
from datetime import datetime
from typing import Any

from apps.adapters.base import (
    CanonicalEntity,
    ChangeType,
    EntitySchema,
    FieldSpec,
    SourceChange,
)
from apps.adapters.record_reader import RecordReader, epoch_ms, format_timestamp, parse_timestamp

ENTITY_TYPE = "customer"

#: the item fields every read asks for
FIELDS = ("id", "email", "name", "status", "date_created", "date_updated")

#: canonical attribute -> Directus field, for equality filters and changed-field names
ATTRIBUTE_FIELDS = {"id": "id", "email": "email", "name": "name", "status": "status",
                    "created_at": "date_created", "updated_at": "date_updated"}
#: attributes a Directus filter can test directly (`updated_at` is computed, see above)
FILTERABLE = ("id", "email", "name", "status", "created_at")
#: the comparisons beyond equality the adapter pushes down (`updated_at__gt` as the
#: effective update time)
COMPARISONS = ("created_at__gt", "updated_at__gt")

SCHEMA = EntitySchema(entity_type=ENTITY_TYPE, version=1, key="id", fields=(
    FieldSpec("email", "string", description="unique per customer"),
    FieldSpec("name", "string"),
    FieldSpec("status", "string", description="active or archived"),
    FieldSpec("created_at", "datetime"),
    FieldSpec("updated_at", "datetime",
              description="the last update; the creation time until the first update"),
))

Position = tuple[datetime, int]
"""An item's place in change order: (effective update time, id)."""


def to_customer(item: Any, source: str, record_id: str | None = None) -> CanonicalEntity:
    """The canonical customer, or MalformedRecord naming the item and every bad field."""
    return _read(item, source, record_id)[0]


def _read(item: Any, source: str,
          record_id: str | None = None) -> tuple[CanonicalEntity, datetime]:
    """The customer and its effective update time."""
    reader = RecordReader(item, entity_type=ENTITY_TYPE, source=source, id_field="id",
                          record_id=record_id)
    key = str(reader.integer("id", minimum=1))  # Directus' customers key is an integer
    email, name, status = reader.text("email"), reader.text("name"), reader.text("status")
    created = reader.timestamp("date_created")
    updated = reader.optional_timestamp("date_updated") or created
    reader.check()
    return CanonicalEntity(
        type=ENTITY_TYPE, id=key, source=source, version=epoch_ms(updated),
        attributes={"email": email, "name": name, "status": status,
                    "created_at": format_timestamp(created),
                    "updated_at": format_timestamp(updated)}), updated


def to_change(item: Any, source: str, change_type: ChangeType | None = None,
              changed_fields: tuple[str, ...] = ()) -> SourceChange:
    """The change an item shows: CREATED while `date_updated` is null, else UPDATED, unless
    a webhook already said which."""
    entity, updated = _read(item, source)
    if change_type is None:
        never_updated = item.get("date_updated") is None
        change_type = ChangeType.CREATED if never_updated else ChangeType.UPDATED
    return SourceChange(change_type=change_type, entity_type=ENTITY_TYPE, entity_id=entity.id,
                        entity=entity, occurred_at=updated, changed_fields=changed_fields)


def filter_rule(name: str, value: Any) -> dict[str, Any]:
    """The Directus filter rule of one canonical filter (FILTERABLE or COMPARISONS).

    `updated_at__gt` tests the effective update time: `date_updated` after the moment, or
    never updated and `date_created` after it (Directus cannot compare a coalesce)."""
    if name == "updated_at__gt":
        return {"_or": [{"date_updated": {"_gt": value}},
                        {"_and": [{"date_updated": {"_null": True}},
                                  {"date_created": {"_gt": value}}]}]}
    if name == "created_at__gt":
        return {"date_created": {"_gt": value}}
    field = ATTRIBUTE_FIELDS[name]
    return {field: {"_null": True} if value is None else {"_eq": value}}


def position(item: Any) -> Position | None:
    """Where the item sits in change order, or None when its id or times are unreadable."""
    if not isinstance(item, dict):
        return None
    key = directus_key(item.get("id"))
    moment = parse_timestamp(item.get("date_updated") or item.get("date_created"))
    return None if key is None or moment is None else (moment, key)


def directus_key(value: Any) -> int | None:
    """The integer primary key a canonical id names, or None if it cannot name one."""
    if isinstance(value, str) and value.strip().isdigit():
        value = int(value)
    if isinstance(value, bool) or not isinstance(value, int) or value < 1:
        return None
    return value


def changed_attributes(fields: Iterable[str]) -> tuple[str, ...]:
    """The canonical names of the item fields an update payload holds, plus `updated_at`,
    which Directus sets on every update."""
    by_field = {field: attribute for attribute, field in ATTRIBUTE_FIELDS.items()}
    names = [by_field[field] for field in fields if field in by_field]
    return tuple(sorted({*names, "updated_at"}))
