"""A REST source described in data: what the declarative adapter needs to read it.

The format borrows Airbyte's low-code connector vocabulary (an authenticator, a record
selector's path, a paginator's strategy, a datetime cursor with its request parameter), cut
down to what live reads need: we answer lookups and poll changes, we do not copy streams.
One description is one canonical entity type of one source::

    entity_type: supplier            # the canonical type (and GraphQL `Supplier`)
    domain: suppliers                # topic names: <domain>.<source>.entity_changed
    key: id                          # the field holding the entity id
    auth: {type: bearer, credential: token}        # or api_key {header}, basic, none
    list: {path: /api/suppliers, records: data, page_size_param: limit, max_page_size: 100}
    get: {path: "/api/suppliers/{id}", record: supplier}
    by_ids: {param: ids, max: 100}   # optional: many ids in one call
    pagination: {type: cursor, cursor_param: cursor, next_cursor: next_cursor}
    changes: {cursor_field: updated_at, since_param: updated_since}
    rate_limit: {remaining_header: X-RateLimit-Remaining, reset_header: X-RateLimit-Reset}
    etag: false                      # true: conditional GETs (If-None-Match), bodies reused
    fields:
      - {name: id, type: string}
      - {name: name, type: string}
      - {name: credit_limit, type: money}            # {"amount": "12.50", "currency": "EUR"}
      - {name: rating, type: decimal, required: false}
      - {name: updated_at, type: datetime}
      - {name: product_skus, type: string_list}
    relationships:
      - {field: product_skus, entity_type: product, type: supplies, name: products,
         reverse: supplier}

``list.filters`` maps the filters a list may push down to the source's query parameters:
``<field>`` (equality), ``<field>__gt``, ``<field>__icontains`` or ``in_stock`` (on a
``stock`` field), each to a parameter name, or to ``{param, values}`` when the source spells
the value its own way, e.g. ``in_stock: {param: stock_status, values: {"true": instock,
"false": outofstock}}``.

A field reads the record at ``path`` (dotted, default: its name). ``parse_description``
checks the structure against :data:`DESCRIPTION_SCHEMA` (JSON Schema) and then the rules
that cross fields; every error names the field, e.g. ``changes.cursor_field``.
"""

from __future__ import annotations

import json
import keyword
from collections import Counter
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

import jsonschema_rs

from apps.adapters.base import EntitySchema, FieldSpec, ServiceLevel

FIELD_TYPES = ("string", "integer", "decimal", "money", "datetime", "boolean", "string_list")
_NAME = r"^[a-z][a-z0-9_]*$"
_PATH = r"^/"
_DOTTED = r"^([A-Za-z0-9_\-]+(\.[A-Za-z0-9_\-]+)*)?$"


#: named filters beyond ``<field>``, ``<field>__gt`` and ``<field>__icontains``, and the
#: field each one tests
NAMED_FILTERS = {"in_stock": "stock"}


def filter_field(name: str) -> str:
    """The declared field a filter name tests (``name__icontains`` -> ``name``)."""
    if name in NAMED_FILTERS:
        return NAMED_FILTERS[name]
    for suffix in ("__gt", "__icontains"):
        if name.endswith(suffix):
            return name.removesuffix(suffix)
    return name


def _object(properties: dict[str, Any], required: tuple[str, ...] = ()) -> dict[str, Any]:
    return {"type": "object", "properties": properties, "required": list(required),
            "additionalProperties": False}


_TEXT = {"type": "string", "minLength": 1}
_POSITIVE = {"type": "integer", "minimum": 1}

DESCRIPTION_SCHEMA: dict[str, Any] = _object({
    "entity_type": {"type": "string", "pattern": _NAME, "maxLength": 60},
    "domain": {"type": "string", "pattern": _NAME, "maxLength": 60},
    "key": {"type": "string", "pattern": _NAME},
    "auth": {"oneOf": [
        _object({"type": {"const": "bearer"}, "credential": _TEXT}, ("type",)),
        _object({"type": {"const": "api_key"}, "header": _TEXT, "credential": _TEXT},
                ("type", "header")),
        _object({"type": {"const": "basic"}, "username_credential": _TEXT,
                 "password_credential": _TEXT}, ("type",)),
        _object({"type": {"const": "none"}}, ("type",)),
    ]},
    "list": _object({
        "path": {"type": "string", "pattern": _PATH},
        "records": {"type": "string", "pattern": _DOTTED},
        "page_size_param": _TEXT, "max_page_size": _POSITIVE,
        "total": {"type": "string", "pattern": _DOTTED, "minLength": 1},
        "filters": {"type": "object", "additionalProperties": {"oneOf": [
            _TEXT,
            _object({"param": _TEXT, "values": {"type": "object",
                                                "additionalProperties": _TEXT}},
                    ("param", "values")),
        ]}},
    }, ("path",)),
    "get": _object({"path": {"type": "string", "pattern": _PATH},
                    "record": {"type": "string", "pattern": _DOTTED}}, ("path",)),
    "by_ids": _object({"param": _TEXT, "max": _POSITIVE, "separator": _TEXT}, ("param",)),
    "pagination": {"oneOf": [
        _object({"type": {"const": "cursor"}, "cursor_param": _TEXT,
                 "next_cursor": {"type": "string", "pattern": _DOTTED, "minLength": 1}},
                ("type", "cursor_param", "next_cursor")),
        _object({"type": {"const": "page"}, "page_param": _TEXT,
                 "first_page": {"type": "integer", "minimum": 0},
                 "total_pages": {"type": "string", "pattern": _DOTTED}},
                ("type", "page_param")),
        _object({"type": {"const": "offset"}, "offset_param": _TEXT},
                ("type", "offset_param")),
        _object({"type": {"const": "link_header"}}, ("type",)),
        _object({"type": {"const": "none"}}, ("type",)),
    ]},
    "changes": _object({"cursor_field": {"type": "string", "pattern": _NAME},
                        "since_param": _TEXT}, ("cursor_field",)),
    "rate_limit": _object({"remaining_header": _TEXT, "reset_header": _TEXT,
                           "reset": {"enum": ["seconds", "epoch"]}},
                          ("remaining_header", "reset_header")),
    "fields": {"type": "array", "minItems": 1, "maxItems": 200, "items": _object({
        "name": {"type": "string", "pattern": _NAME, "maxLength": 60},
        "path": {"type": "string", "pattern": _DOTTED, "minLength": 1},
        "type": {"enum": list(FIELD_TYPES)},
        "required": {"type": "boolean"},
        "minimum": {"type": "integer"},
        "description": {"type": "string"},
    }, ("name", "type"))},
    "relationships": {"type": "array", "maxItems": 50, "items": _object({
        "field": {"type": "string", "pattern": _NAME},
        "entity_type": {"type": "string", "pattern": _NAME},
        "type": {"type": "string", "pattern": _NAME},
        "name": {"type": "string", "pattern": _NAME},
        "reverse": {"type": "string", "pattern": _NAME},
    }, ("field", "entity_type", "type"))},
    "etag": {"type": "boolean"},
    "sla": _object({"freshness_seconds": _POSITIVE,
                    "availability": {"type": "number", "exclusiveMinimum": 0, "maximum": 1},
                    "latency_p99_ms": _POSITIVE}),
}, ("entity_type", "domain", "key", "auth", "list", "get", "pagination", "changes", "fields"))

_VALIDATOR = jsonschema_rs.validator_for(DESCRIPTION_SCHEMA)


class DescriptionError(ValueError):
    """A description that cannot serve: ``field`` names where (e.g. ``changes.cursor_field``)."""

    def __init__(self, field: str, message: str) -> None:
        super().__init__(f"{field}: {message}" if field else message)
        self.field, self.message = field, message


@dataclass(frozen=True)
class Field:
    name: str
    path: tuple[str, ...]
    type: str
    required: bool
    description: str = ""
    minimum: int | None = None  # integers only


@dataclass(frozen=True)
class Relation:
    """``field`` of this entity holds the id (or ids) of ``entity_type`` entities."""

    field: str
    entity_type: str
    type: str
    name: str | None  # the GraphQL field on this type that follows it
    reverse: str | None  # the GraphQL field on the other type that comes back


@dataclass(frozen=True)
class Description:
    """A checked description (see the module's docstring); ``raw`` is what was given."""

    entity_type: str
    domain: str
    key: str
    auth: Mapping[str, Any]
    list: Mapping[str, Any]
    get: Mapping[str, Any]
    by_ids: Mapping[str, Any] | None
    pagination: Mapping[str, Any]
    cursor_field: str
    since_param: str | None
    rate_limit: Mapping[str, Any] | None
    etag: bool
    fields: tuple[Field, ...]
    relationships: tuple[Relation, ...]
    sla: ServiceLevel

    @property
    def schema(self) -> EntitySchema:
        return EntitySchema(self.entity_type, 1, self.key, tuple(
            FieldSpec(f.name, f.type, f.required, f.description) for f in self.fields))

    def field(self, name: str) -> Field:
        return next(f for f in self.fields if f.name == name)


def dotted(path: str) -> tuple[str, ...]:
    return tuple(path.split(".")) if path else ()


def parse_description(raw: Any) -> Description:
    """The checked description, or DescriptionError naming the first bad field."""
    if not isinstance(raw, Mapping):
        raise DescriptionError("", "A description is a JSON (or YAML) object; see the "
                                   "declarative sources section of the README.")
    try:
        json.dumps(raw, allow_nan=False)
    except (TypeError, ValueError) as exc:
        # YAML reads unquoted dates and times as such; a description is JSON data.
        raise DescriptionError("", f"Only JSON values may appear ({exc}); quote dates and "
                                   "times, e.g. '2024-01-01'.") from None
    for error in _VALIDATOR.iter_errors(dict(raw)):
        path = [str(part) for part in error.instance_path]
        if isinstance(error.kind, jsonschema_rs.ValidationErrorKind.Required):
            # Name the missing field itself, not the object that lacks it.
            missing = ".".join([*path, str(error.kind.property)])
            raise DescriptionError(missing, "is required; see the description format in "
                                            "the README.")
        raise DescriptionError(".".join(path) or "(top level)", _readable(error))
    fields = tuple(Field(f["name"], dotted(f.get("path", f["name"])), f["type"],
                         f.get("required", True), f.get("description", ""), f.get("minimum"))
                   for f in raw["fields"])
    by_name = {f.name: f for f in fields}
    twice = [name for name, count in Counter(f.name for f in fields).items() if count > 1]
    if twice:
        raise DescriptionError("fields", f"{twice[0]!r} is declared twice; name each field "
                                         "once.")
    for n, f in enumerate(fields):
        if keyword.iskeyword(f.name) or f.name.startswith("_"):
            raise DescriptionError(f"fields.{n}.name", f"{f.name!r} is reserved; rename it.")
        if f.minimum is not None and f.type != "integer":
            raise DescriptionError(f"fields.{n}.minimum", "applies to integer fields only.")
    _check_field(by_name, "key", raw["key"], ("string", "integer"), required=True)
    cursor_field = raw["changes"]["cursor_field"]
    _check_field(by_name, "changes.cursor_field", cursor_field, ("datetime",), required=True)
    relations = []
    for n, rel in enumerate(raw.get("relationships", ())):
        _check_field(by_name, f"relationships.{n}.field", rel["field"],
                     ("string", "integer", "string_list"), required=False)
        if rel.get("name") in by_name:
            raise DescriptionError(f"relationships.{n}.name", f"{rel['name']!r} is already "
                                                              "a field; name the link apart.")
        relations.append(Relation(rel["field"], rel["entity_type"], rel["type"],
                                  rel.get("name"), rel.get("reverse")))
    if "{id}" not in raw["get"]["path"]:
        raise DescriptionError("get.path", "must hold {id} where the entity id goes, e.g. "
                                           "/api/suppliers/{id}.")
    filters = raw["list"].get("filters", {})
    unknown = sorted(name for name in filters if filter_field(name) not in by_name)
    if unknown:
        raise DescriptionError("list.filters", f"{', '.join(unknown)} is not a declared field "
                                               "(or <field>__gt, <field>__icontains, in_stock "
                                               "on a declared stock); filters map them to "
                                               "parameters.")
    sla = raw.get("sla", {})
    return Description(
        entity_type=raw["entity_type"], domain=raw["domain"], key=raw["key"],
        auth=raw["auth"], list=raw["list"], get=raw["get"], by_ids=raw.get("by_ids"),
        pagination=raw["pagination"], cursor_field=cursor_field,
        since_param=raw["changes"].get("since_param"), rate_limit=raw.get("rate_limit"),
        etag=raw.get("etag", False),
        fields=fields, relationships=tuple(relations),
        sla=ServiceLevel(freshness_seconds=sla.get("freshness_seconds", 300),
                         availability=sla.get("availability", 0.99),
                         latency_p99_ms=sla.get("latency_p99_ms", 1000)))


def _check_field(by_name: Mapping[str, Field], where: str, name: str,
                 types: tuple[str, ...], *, required: bool) -> None:
    found = by_name.get(name)
    if found is None:
        raise DescriptionError(where, f"{name!r} is not one of the declared fields "
                                      f"({', '.join(by_name)}); declare it under `fields`.")
    if found.type not in types:
        raise DescriptionError(where, f"{name!r} is a {found.type} field; it must be "
                                      f"{' or '.join(types)}.")
    if required and not found.required:
        raise DescriptionError(where, f"{name!r} must be a required field (drop "
                                      "`required: false`).")


def _readable(error: jsonschema_rs.ValidationError) -> str:
    """The validator's message, with the choices spelled out (it abbreviates them)."""
    if isinstance(error.kind, jsonschema_rs.ValidationErrorKind.Enum):
        return (f"{error.instance!r} is not one of "
                f"{', '.join(map(str, error.kind.options))}.")
    schema_path = [str(part) for part in error.schema_path]
    if "oneOf" in schema_path:
        at = schema_path[schema_path.index("oneOf") - 1] if schema_path.index("oneOf") else ""
        kinds = {"auth": "bearer {credential}, api_key {header, credential}, basic "
                         "{username_credential, password_credential} or none",
                 "pagination": "cursor {cursor_param, next_cursor}, page {page_param, "
                               "first_page, total_pages}, offset {offset_param}, "
                               "link_header or none"}
        if at in kinds:
            return f"must be one of: {kinds[at]} (type plus those keys, no others)."
    return error.message + "."
