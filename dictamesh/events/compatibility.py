"""Avro schema validity and compatibility, for the schema registry.

``can_read(reader, writer)`` applies the Avro specification's schema-resolution rules
(https://avro.apache.org/docs/1.12.0/specification/#schema-resolution) and returns why a
reader cannot read the writer's data — an empty list when it can. ``check`` builds the
registry's compatibility levels on it, with Confluent's meaning of each.

Like Java's ``SchemaCompatibility`` (what Confluent's registry runs), named types match by
unqualified name or a reader alias, logical types are ignored (only the bytes matter), and
a recursive type is assumed compatible with itself while it is being compared.
"""

from __future__ import annotations

import json
import re
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from fastavro import parse_schema
from fastavro.schema import SchemaParseException, UnknownType

from dictamesh.events import PRIMITIVE_TYPES, AvroSchema, strip_wrappers

COMPATIBILITY_LEVELS = (
    "BACKWARD",
    "BACKWARD_TRANSITIVE",
    "FORWARD",
    "FORWARD_TRANSITIVE",
    "FULL",
    "FULL_TRANSITIVE",
    "NONE",
)

_NAME = re.compile(r"[A-Za-z_][A-Za-z0-9_]*\Z")
# reader type -> the writer types whose values it reads (the specification's promotions)
_PROMOTIONS = {
    "long": {"int"},
    "float": {"int", "long"},
    "double": {"int", "long", "float"},
    "string": {"bytes"},
    "bytes": {"string"},
}


class InvalidSchema(ValueError):
    """Text that is not JSON, or JSON that is not an Avro schema (Confluent error 42201)."""


@dataclass(frozen=True)
class WithReferences:
    """A schema that uses named types defined in other schemas (Confluent's schema
    references): ``references`` are those schemas, each before any schema that uses its
    types. Everything here that takes a schema takes one of these too."""

    schema: AvroSchema
    references: tuple[AvroSchema, ...]


def validate_schema(
    schema_str: str, references: Sequence[AvroSchema] = ()
) -> dict[str, Any] | WithReferences:
    """The parsed JSON of a valid Avro schema; ``InvalidSchema`` saying what is wrong if not.

    A top-level primitive or union (legal, e.g. a ``"string"`` key schema) is returned
    wrapped as ``{"type": ...}``, its equivalent, so callers always get a dict; store the
    original text, not this. With ``references`` (the schemas defining the named types it
    uses), the result is a ``WithReferences`` holding that dict.
    """
    try:
        schema = json.loads(schema_str)
    except json.JSONDecodeError as exc:
        raise InvalidSchema(f"Schema is not valid JSON: {exc}") from None
    except RecursionError:
        raise InvalidSchema("Schema is nested too deeply.") from None
    wrapped = schema if isinstance(schema, dict) else {"type": schema}
    if references:
        referencing = WithReferences(wrapped, tuple(references))
        parse(referencing)
        return referencing
    parse(schema)
    return wrapped


Schema = AvroSchema | WithReferences


def can_read(reader: Schema, writer: Schema) -> list[str]:
    """Why data written with ``writer`` cannot be read with ``reader``; [] if it can."""
    (reader_node, reader_named), (writer_node, writer_named) = parse(reader), parse(writer)
    reasons = _Resolution(reader_named, writer_named).check(reader_node, writer_node, "")
    return list(dict.fromkeys(reasons))  # a type used in several places fails once


def check(
    new: Schema,
    existing: Sequence[Schema],
    level: str,
    versions: Sequence[int] | None = None,
) -> list[str]:
    """Why ``new`` may not follow ``existing`` (oldest first) under ``level``; [] if it may.

    BACKWARD: the new schema reads data written with the latest; FORWARD: the latest reads
    data written with the new one; FULL: both. The _TRANSITIVE levels apply the same test
    to every existing schema instead of the latest only. NONE accepts anything.
    ``versions``, if given, are the existing schemas' version numbers, named in the reasons
    (a registry's versions need not be 1..n: some may have been deleted).
    """
    if level not in COMPATIBILITY_LEVELS:
        raise ValueError(f"Unknown compatibility level {level!r}; one of {COMPATIBILITY_LEVELS}.")
    if level == "NONE" or not existing:
        return []
    total = len(existing)
    labels = ([f"version {number}" for number in versions] if versions is not None
              else [f"existing schema {number} of {total}" for number in range(1, total + 1)])
    labelled = list(zip(labels, existing, strict=True))
    against = labelled if level.endswith("_TRANSITIVE") else labelled[-1:]
    reasons = []
    for label, old in against:
        if level.startswith(("BACKWARD", "FULL")):
            reasons += [
                f"the new schema cannot read data written with {label}: {reason}"
                for reason in can_read(new, old)
            ]
        if level.startswith(("FORWARD", "FULL")):
            reasons += [
                f"{label} cannot read data written with the new schema: {reason}"
                for reason in can_read(old, new)
            ]
    return reasons


# --- Validity ---------------------------------------------------------------------------------


def parse(schema: Schema) -> tuple[Any, dict[str, Any]]:
    """fastavro's parsed form of a valid schema (names made full) and its named types.

    ``InvalidSchema`` if the schema is not valid Avro: the one test of validity, used by the
    registry and the codec alike. A ``WithReferences`` schema's named types include those
    of its references, which its parsed form names (fastavro resolves them through the
    named types it carries).
    """
    named: dict[str, Any] = {}
    if isinstance(schema, WithReferences):
        for reference in schema.references:
            _parse_into(reference, named)
        schema = schema.schema
    return _parse_into(schema, named), named


def _parse_into(schema: AvroSchema, named: dict[str, Any]) -> Any:
    """Parse ``schema``, adding its named types to ``named``; the parsed form."""
    if not isinstance(schema, str | list | dict):
        raise InvalidSchema(f"A schema is a JSON string, array or object, not {schema!r}.")
    if isinstance(schema, dict) and schema.keys() == {"type"} and isinstance(schema["type"], list):
        schema = schema["type"]  # a top-level union, as validate_schema wraps it
    try:
        parsed = parse_schema(schema, named)
        _lint(schema, "")
    except InvalidSchema:
        raise
    except UnknownType as exc:
        raise InvalidSchema(f"Unknown type {exc.name!r}: not primitive, nor defined.") from None
    except SchemaParseException as exc:
        raise InvalidSchema(f"{exc}") from None
    except KeyError as exc:
        raise InvalidSchema(f"A schema lacks its required attribute {exc}.") from None
    except (TypeError, ValueError, AttributeError) as exc:
        raise InvalidSchema(f"Not an Avro schema: {exc}") from None
    except RecursionError:
        raise InvalidSchema("Schema is nested too deeply.") from None
    return parsed


def _lint(node: Any, namespace: str) -> None:
    """Reject what the specification forbids but fastavro's parser lets through.

    Runs on the schema as written (fastavro's parsed form hides, e.g., a missing "fields"),
    after fastavro accepted it, so references and required attributes are known good.
    """
    node = strip_wrappers(node)
    if isinstance(node, list):
        _lint_union(node, namespace)
        return
    if not isinstance(node, dict):  # a primitive or a reference
        return
    kind = node["type"]
    if kind in ("record", "error", "enum", "fixed"):
        fullname = _fullname(node["name"], node.get("namespace", namespace))
        if not all(_NAME.match(part) for part in fullname.split(".")):
            raise InvalidSchema(f"{kind} name {fullname!r} is not a valid Avro name.")
        namespace = fullname.rpartition(".")[0]
    if kind in ("record", "error"):
        _lint_fields(node, namespace)
    elif kind == "enum" and not (
        isinstance(node["symbols"], list) and all(isinstance(s, str) for s in node["symbols"])
    ):
        raise InvalidSchema(f"Symbols of enum {node['name']!r} must be a list of strings.")
    elif kind == "fixed" and not (type(node["size"]) is int and node["size"] >= 0):
        raise InvalidSchema(f"Size of fixed {node['name']!r} must be a non-negative integer.")
    elif kind in ("array", "map"):
        _lint(node["items" if kind == "array" else "values"], namespace)


def _lint_fields(record: dict[str, Any], namespace: str) -> None:
    fields = record.get("fields")
    if not isinstance(fields, list):
        raise InvalidSchema(f"Record {record['name']!r} needs a list of fields.")
    seen = set()
    for field in fields:
        name = field["name"]
        if not isinstance(name, str) or not _NAME.match(name):
            raise InvalidSchema(f"Field name {name!r} of {record['name']!r} is not a valid name.")
        if name in seen:
            raise InvalidSchema(f"Record {record['name']!r} has two fields named {name!r}.")
        seen.add(name)
        _lint(field["type"], namespace)


def _lint_union(branches: list[Any], namespace: str) -> None:
    seen = set()
    for branch in branches:
        node = strip_wrappers(branch)
        if isinstance(node, list):
            raise InvalidSchema("A union may not immediately contain another union.")
        # Branches are told apart by type, and named types by full name: one of each.
        if isinstance(node, str):
            key = node if node in PRIMITIVE_TYPES else _fullname(node, namespace)
        elif "name" in node:
            key = _fullname(node["name"], node.get("namespace", namespace))
        else:
            key = node["type"]
        if key in seen:
            raise InvalidSchema(f"A union may not contain {key!r} twice.")
        seen.add(key)
        _lint(branch, namespace)


def _fullname(name: str, namespace: str | None) -> str:
    return name if "." in name or not namespace else f"{namespace}.{name}"


# --- Compatibility ---------------------------------------------------------------------------


class _Resolution:
    """One comparison of a reader schema with a writer schema, by the resolution rules."""

    def __init__(self, reader_named: dict[str, Any], writer_named: dict[str, Any]) -> None:
        self._reader_named = reader_named
        self._writer_named = writer_named
        # (reader name, writer name) -> reasons; None while in progress, which a recursive
        # reference takes as compatible (the rest of the comparison decides).
        self._named_pairs: dict[tuple[str, str], list[str] | None] = {}

    def check(self, reader: Any, writer: Any, path: str) -> list[str]:
        reader = _resolve(reader, self._reader_named)
        writer = _resolve(writer, self._writer_named)
        if isinstance(writer, list):  # whatever branch was written must be readable
            return [reason for branch in writer for reason in self.check(reader, branch, path)]
        if isinstance(reader, list):  # the first reader branch that can read it is used
            if any(not self.check(branch, writer, path) for branch in reader):
                return []
            branches = ", ".join(_describe(branch, self._reader_named) for branch in reader)
            return [
                f"{_at(path)}no type of the reader's union [{branches}] can read the "
                f"writer's {_describe(writer, self._writer_named)}"
            ]
        reader_type, writer_type = _type_of(reader), _type_of(writer)
        if reader_type != writer_type:
            if writer_type in _PROMOTIONS.get(reader_type, ()):
                return []
            return [
                f"{_at(path)}the reader's {_describe(reader, self._reader_named)} cannot "
                f"read the writer's {_describe(writer, self._writer_named)}"
            ]
        if reader_type in PRIMITIVE_TYPES:
            return []
        if reader_type == "array":
            return self.check(reader["items"], writer["items"], f"{path}[]")
        if reader_type == "map":
            return self.check(reader["values"], writer["values"], f"{path}{{}}")
        return self._named(reader, writer, path)

    def _named(self, reader: dict[str, Any], writer: dict[str, Any], path: str) -> list[str]:
        key = (reader["name"], writer["name"])
        if key in self._named_pairs:
            return self._named_pairs[key] or []
        if not _names_match(reader, writer):
            kind = reader["type"]
            return [
                f"{_at(path)}the reader's {kind} {_short(reader['name'])!r} does not match "
                f"the writer's {kind} {_short(writer['name'])!r} (different name, no alias)"
            ]
        self._named_pairs[key] = None
        reasons = getattr(self, f"_{_type_of(reader)}")(reader, writer, path)
        self._named_pairs[key] = reasons
        return reasons

    def _record(self, reader: dict[str, Any], writer: dict[str, Any], path: str) -> list[str]:
        written = {field["name"]: field for field in writer["fields"]}
        reasons = []
        for field in reader["fields"]:
            field_path = f"{path}.{field['name']}" if path else field["name"]
            names = [field["name"], *field.get("aliases", ())]
            source = next((written[name] for name in names if name in written), None)
            if source is not None:
                reasons += self.check(field["type"], source["type"], field_path)
            elif "default" not in field:
                reasons.append(
                    f"field '{field_path}' has no default and is missing from the writer schema"
                )
        return reasons

    def _enum(self, reader: dict[str, Any], writer: dict[str, Any], path: str) -> list[str]:
        unknown = [symbol for symbol in writer["symbols"] if symbol not in reader["symbols"]]
        if not unknown or "default" in reader:
            return []
        return [
            f"{_at(path)}the reader's enum {_short(reader['name'])!r} lacks the writer's "
            f"symbols {unknown} and has no default symbol"
        ]

    def _fixed(self, reader: dict[str, Any], writer: dict[str, Any], path: str) -> list[str]:
        if reader["size"] == writer["size"]:
            return []
        return [
            f"{_at(path)}the reader's fixed {_short(reader['name'])!r} has size "
            f"{reader['size']}, the writer's {writer['size']}"
        ]


def _resolve(node: Any, named: dict[str, Any]) -> Any:
    """A primitive's name, a union's list, or a complex type's dict (references followed)."""
    node = strip_wrappers(node)
    if isinstance(node, str) and node not in PRIMITIVE_TYPES:
        return named[node]
    return node


def _type_of(node: str | dict[str, Any]) -> str:
    if isinstance(node, str):
        return node
    return "record" if node["type"] == "error" else str(node["type"])


def _short(name: str) -> str:
    return name.rpartition(".")[2]


def _names_match(reader: dict[str, Any], writer: dict[str, Any]) -> bool:
    aliases = {_short(alias) for alias in reader.get("aliases", ())}
    return _short(writer["name"]) in aliases | {_short(reader["name"])}


def _describe(node: Any, named: dict[str, Any]) -> str:
    node = _resolve(node, named)
    if isinstance(node, str):
        return node
    if isinstance(node, list):
        return "union"
    if "name" in node:
        return f"{_type_of(node)} {_short(node['name'])!r}"
    return str(node["type"])


def _at(path: str) -> str:
    return f"field '{path}': " if path else ""
