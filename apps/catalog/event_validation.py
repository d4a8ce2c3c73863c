"""What the catalog refuses of an entity change event, checked before any transaction.

The consumer runner calls :func:`check_entity_change` on each event as it decodes it (see
``validated_by`` in ``dictamesh.events.handlers``). An event that passes Avro decoding can
still be impossible to store: an id longer than its column, a NUL character (PostgreSQL's
text and jsonb cannot hold one), a relationship naming an object id of 400 characters. Such
an event would fail its tenant's whole transaction on every retry; refused here, it goes to
the dead-letter topic with its reason, and its neighbours apply.

The limits are read from the catalog's models, so a migration that widens a column widens
what is accepted.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any, NoReturn

from apps.catalog.models import EntityCatalog, EntityRelationship
from dictamesh.events.handlers import ConsumedEvent, PermanentError
from dictamesh.events.payload import PayloadError, parse_payload

_NUL = "\x00"
_NUL_ESCAPE = "\\u0000"  # how JSON text spells a NUL character
_RELATIONSHIPS = '"relationships"'


def _limit(model: type, field: str) -> int:
    max_length = model._meta.get_field(field).max_length  # type: ignore[attr-defined]
    assert isinstance(max_length, int), f"{model.__name__}.{field} has no max_length"
    return max_length


_TYPE_CHARS = _limit(EntityCatalog, "entity_type")
_ID_CHARS = _limit(EntityCatalog, "entity_id")
_SOURCE_CHARS = _limit(EntityCatalog, "source_system")
_RELATIONSHIP_TYPE_CHARS = _limit(EntityRelationship, "relationship_type")


def check_entity_change(event: ConsumedEvent) -> None:
    """Raise PermanentError (reason ``invalid_event``) if the catalog cannot store
    ``event`` as it is; the message names the field and what to fix."""
    record = event.record
    entity = record["entity"]
    _text(event, "entity.type", entity["type"], _TYPE_CHARS)
    _text(event, "entity.id", entity["id"], _ID_CHARS)
    _text(event, "source", record["source"], _SOURCE_CHARS)
    for n, name in enumerate(record["changed_fields"]):
        _text(event, f"changed_fields[{n}]", name, None)
    text = record["payload"]
    # Most payloads need no parsing here (the handler parses them): JSON cannot hold a raw
    # NUL, only the escape, and only relationships carry ids to measure.
    may_hold_nul = text is not None and _NUL_ESCAPE in text
    if text is None or not (may_hold_nul or _RELATIONSHIPS in text):
        return
    try:
        payload = parse_payload(text)
    except PayloadError as exc:
        raise PermanentError(str(exc), event=event, reason="bad_payload") from None
    if may_hold_nul:
        for path, value in _strings(payload.attributes, "payload.attributes"):
            if _NUL in value:
                _refuse(event, f"{path} contains a NUL character (\\u0000), which "
                               "PostgreSQL cannot store: strip it at the source")
    for n, rel in enumerate(payload.relationships):
        where = f"payload.relationships[{n}]"
        _text(event, f"{where}.type", rel.relationship_type, _RELATIONSHIP_TYPE_CHARS)
        _text(event, f"{where}.object.type", rel.object_type, _TYPE_CHARS)
        _text(event, f"{where}.object.id", rel.object_id, _ID_CHARS)
        if rel.subject_type is not None and rel.subject_id is not None:
            _text(event, f"{where}.subject.type", rel.subject_type, _TYPE_CHARS)
            _text(event, f"{where}.subject.id", rel.subject_id, _ID_CHARS)


def _text(event: ConsumedEvent, path: str, value: Any, max_chars: int | None) -> None:
    if not isinstance(value, str):
        _refuse(event, f"{path} must be text, not {type(value).__name__}")
    if not value and max_chars is not None:
        _refuse(event, f"{path} is empty")
    if max_chars is not None and len(value) > max_chars:
        _refuse(event, f"{path} has {len(value)} characters; the catalog stores at most "
                       f"{max_chars}: shorten or map it at the source")
    if _NUL in value:
        _refuse(event, f"{path} contains a NUL character (\\u0000), which PostgreSQL cannot "
                       "store: strip it at the source")


def _strings(value: Any, path: str) -> Iterator[tuple[str, str]]:
    """Every string in a JSON document (keys too), with where it is."""
    stack = [(path, value)]
    while stack:
        where, node = stack.pop()
        if isinstance(node, str):
            yield where, node
        elif isinstance(node, dict):
            for key, item in node.items():
                yield f"{where} (a key)", str(key)
                stack.append((f"{where}.{key}", item))
        elif isinstance(node, list):
            stack.extend((f"{where}[{n}]", item) for n, item in enumerate(node))


def _refuse(event: ConsumedEvent, message: str) -> NoReturn:
    raise PermanentError(f"The catalog cannot store this event: {message}.", event=event,
                         reason="invalid_event")
