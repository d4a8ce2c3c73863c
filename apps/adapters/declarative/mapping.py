"""Source records as canonical entities, by a description's fields: the one place that reads
a described source's record. Every bad field is named (see RecordReader)."""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import Any

from apps.adapters.base import CanonicalEntity
from apps.adapters.declarative.description import Description, Field
from apps.adapters.record_reader import (
    RecordReader,
    epoch_ms,
    format_timestamp,
    parse_timestamp,
)
from dictamesh.events.payload import PayloadRelationship


def _money(reader: RecordReader, name: str) -> dict[str, str]:
    price = reader.nested(name)
    return {"amount": str(price.decimal("amount")), "currency": price.currency("currency")}


# type -> how a required value reads; every reader names the field on a problem
_READ: Mapping[str, Callable[[RecordReader, str], Any]] = {
    "string": RecordReader.text,
    "integer": RecordReader.integer,
    "decimal": lambda reader, name: str(reader.decimal(name)),
    "money": _money,
    "datetime": lambda reader, name: format_timestamp(reader.timestamp(name)),
    "boolean": RecordReader.boolean,
    "string_list": RecordReader.text_list,
}


def at_path(value: Any, path: tuple[str, ...]) -> Any:
    """The value at a dotted path of nested objects, or None when any step is missing."""
    for step in path:
        if not isinstance(value, Mapping):
            return None
        value = value.get(step)
    return value


def _read(reader: RecordReader, field: Field) -> Any:
    """The canonical value of one field; None for a missing optional field."""
    *parents, last = field.path
    for step in parents:
        if not field.required and at_path(reader.record, (step,)) is None:
            return None
        reader = reader.nested(step)
    if not field.required and reader.record.get(last) is None:
        return None
    if field.minimum is not None:
        return reader.integer(last, minimum=field.minimum)
    return _READ[field.type](reader, last)


def to_entity(description: Description, record: Any, source: str,
              record_id: str | None = None) -> CanonicalEntity:
    """The canonical entity of one source record, or MalformedRecord naming every bad
    field. Its version is the cursor field's time in milliseconds."""
    key_path = description.field(description.key).path
    raw_key = at_path(record, key_path)
    reader = RecordReader(record, entity_type=description.entity_type, source=source,
                          id_field="", record_id=record_id or (
                              str(raw_key) if isinstance(raw_key, str | int) else None))
    attributes = {field.name: _read(reader, field) for field in description.fields}
    reader.check()
    # Required and read as a datetime above: its canonical text parses.
    updated = parse_timestamp(attributes[description.cursor_field])
    assert updated is not None  # noqa: S101
    return CanonicalEntity(type=description.entity_type, id=str(attributes[description.key]),
                           source=source, version=epoch_ms(updated), attributes=attributes,
                           relationships=_relationships(description, attributes))


def _relationships(description: Description,
                   attributes: Mapping[str, Any]) -> tuple[PayloadRelationship, ...]:
    links = []
    for relation in description.relationships:
        value = attributes.get(relation.field)
        targets = value if isinstance(value, list) else [] if value is None else [value]
        links += [PayloadRelationship(relation.type, relation.entity_type, str(target))
                  for target in targets]
    return tuple(links)
