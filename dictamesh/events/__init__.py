"""Layer 2, the event fabric: Avro event contracts, their wire codec and schema evolution.

The event schemas are ``.avsc`` files in ``schemas/`` rather than Python literals, so that
they are diffed like any contract, read by non-Python tools, and registered verbatim in the
schema registry. Namespace: ``com.dictamesh.events``.
"""

from __future__ import annotations

import json
from functools import cache
from importlib import resources
from typing import Any

ENTITY_CHANGE_EVENT = "entity_change_event"
ENTITY_REGISTERED = "entity_registered"
RELATIONSHIP_CREATED = "relationship_created"
SAGA_STATE_CHANGED = "saga_state_changed"
EVENT_SCHEMAS = (ENTITY_CHANGE_EVENT, ENTITY_REGISTERED, RELATIONSHIP_CREATED, SAGA_STATE_CHANGED)
# A topic's last name segment is its event type, and each event type carries one schema
# (evolving under one record name): <tenant>.<domain>.<source>.<event_type>.
SCHEMA_OF_EVENT_TYPE = {
    "entity_changed": ENTITY_CHANGE_EVENT,
    "entity_registered": ENTITY_REGISTERED,
    "relationship_created": RELATIONSHIP_CREATED,
    "state_changed": SAGA_STATE_CHANGED,
}

# The Avro schema vocabulary shared by the codec and the compatibility checker.
AvroSchema = dict[str, Any] | list[Any] | str
PRIMITIVE_TYPES = frozenset(
    {"null", "boolean", "int", "long", "float", "double", "bytes", "string"}
)
COMPLEX_TYPES = frozenset({"record", "error", "enum", "fixed", "array", "map"})


@cache
def load_schema(name: str) -> dict[str, Any]:
    """The parsed ``schemas/<name>.avsc``, one of ``EVENT_SCHEMAS``.

    The same dict is returned on every call (the codec caches by identity, so encoding with
    it costs no JSON work): treat it as read-only, ``copy.deepcopy`` it to derive a schema.
    """
    if name not in EVENT_SCHEMAS:
        raise ValueError(f"Unknown event schema {name!r}; known: {', '.join(EVENT_SCHEMAS)}.")
    text = (resources.files(__name__) / "schemas" / f"{name}.avsc").read_text("utf-8")
    schema: dict[str, Any] = json.loads(text)
    return schema


def record_full_name(schema: Any) -> str:
    """The full name (namespace.name) of a record schema; its type name otherwise."""
    if not isinstance(schema, dict):
        return str(schema)
    name = str(schema.get("name") or schema.get("type"))
    namespace = schema.get("namespace")
    return f"{namespace}.{name}" if namespace and "." not in name else name


def expected_record_name(topic: str) -> str | None:
    """The full record name the events on ``topic`` must have, by its event type; None for
    an event type of no platform schema (then any record is accepted)."""
    schema = SCHEMA_OF_EVENT_TYPE.get(topic.rsplit(".", 1)[-1])
    return None if schema is None else record_full_name(load_schema(schema))


def strip_wrappers(node: Any) -> Any:
    """A schema node without its ``{"type": ...}`` wrappers.

    What remains is a type name (primitive or named reference), a list (a union) or the
    dict of a complex type. Logical types are wrappers too: read ``logicalType`` first.
    """
    while isinstance(node, dict) and node.get("type") not in COMPLEX_TYPES:
        node = node["type"]
    return node
