"""Avro schema validity and compatibility: one table per resolution rule, then the levels."""

from __future__ import annotations

import contextlib
import copy
import json
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from dictamesh.events import ENTITY_CHANGE_EVENT, EVENT_SCHEMAS, load_schema
from dictamesh.events.compatibility import (
    COMPATIBILITY_LEVELS,
    InvalidSchema,
    can_read,
    check,
    validate_schema,
)


def record(name: str, *fields: dict[str, Any], **attributes: Any) -> dict[str, Any]:
    return {"type": "record", "name": name, "fields": list(fields), **attributes}


def field(name: str, type_: Any, **attributes: Any) -> dict[str, Any]:
    return {"name": name, "type": type_, **attributes}


def enum(name: str, *symbols: str, **attributes: Any) -> dict[str, Any]:
    return {"type": "enum", "name": name, "symbols": list(symbols), **attributes}


def fixed(name: str, size: int) -> dict[str, Any]:
    return {"type": "fixed", "name": name, "size": size}


def array(items: Any) -> dict[str, Any]:
    return {"type": "array", "items": items}


def map_of(values: Any) -> dict[str, Any]:
    return {"type": "map", "values": values}


# (reader, writer, None if the reader can read the writer's data, else part of the reason)
COMPATIBLE = None
CASES: dict[str, list[tuple[Any, Any, str | None]]] = {
    "primitives": [
        *[(t, t, COMPATIBLE) for t in
          ("null", "boolean", "int", "long", "float", "double", "bytes", "string")],
        ("long", "int", COMPATIBLE),
        ("float", "int", COMPATIBLE),
        ("float", "long", COMPATIBLE),
        ("double", "int", COMPATIBLE),
        ("double", "long", COMPATIBLE),
        ("double", "float", COMPATIBLE),
        ("string", "bytes", COMPATIBLE),
        ("bytes", "string", COMPATIBLE),
        ("int", "long", "the reader's int cannot read the writer's long"),
        ("long", "float", "the reader's long cannot read the writer's float"),
        ("float", "double", "the reader's float cannot read the writer's double"),
        ("int", "string", "the reader's int cannot read the writer's string"),
        ("boolean", "int", "the reader's boolean cannot read the writer's int"),
        ("null", "string", "the reader's null cannot read the writer's string"),
        ({"type": "long", "logicalType": "timestamp-millis"}, "long", COMPATIBLE),
        ({"type": "string"}, "string", COMPATIBLE),
    ],
    "records": [
        (record("User", field("id", "string"), field("email", ["null", "string"], default=None)),
         record("User", field("id", "string")), COMPATIBLE),
        (record("User", field("id", "string"), field("email", "string")),
         record("User", field("id", "string")),
         "field 'email' has no default and is missing from the writer schema"),
        (record("User", field("id", "string")),
         record("User", field("id", "string"), field("email", "string")), COMPATIBLE),
        (record("User", field("age", "long")), record("User", field("age", "int")), COMPATIBLE),
        (record("User", field("age", "int")), record("User", field("age", "long")),
         "field 'age': the reader's int cannot read the writer's long"),
        (record("User", field("mail", "string", aliases=["email"])),
         record("User", field("email", "string")), COMPATIBLE),
        (record("User", field("mail", "string")), record("User", field("email", "string")),
         "field 'mail' has no default and is missing from the writer schema"),
        (record("Customer", field("id", "string")), record("User", field("id", "string")),
         "the reader's record 'Customer' does not match the writer's record 'User'"),
        (record("Customer", field("id", "string"), aliases=["old.User"]),
         record("User", field("id", "string")), COMPATIBLE),
        (record("User", field("id", "string"), namespace="com.new"),
         record("User", field("id", "string"), namespace="com.old"), COMPATIBLE),
        (record("User", field("address", record("Address", field("zip", "int")))),
         record("User", field("address", record("Address", field("zip", "string")))),
         "field 'address.zip': the reader's int cannot read the writer's string"),
        (record("User", field("id", "string")), "string",
         "the reader's record 'User' cannot read the writer's string"),
    ],
    "enums": [
        (enum("Kind", "A", "B", "C"), enum("Kind", "A", "B"), COMPATIBLE),
        (enum("Kind", "A", "B"), enum("Kind", "A", "B", "C"),
         "the reader's enum 'Kind' lacks the writer's symbols ['C'] and has no default symbol"),
        (enum("Kind", "A", "B", "UNKNOWN", default="UNKNOWN"), enum("Kind", "A", "B", "C"),
         COMPATIBLE),
        (enum("Kind", "A"), enum("Sort", "A"),
         "the reader's enum 'Kind' does not match the writer's enum 'Sort'"),
        (enum("Kind", "A"), "string", "the reader's enum 'Kind' cannot read the writer's string"),
    ],
    "arrays and maps": [
        (array("long"), array("int"), COMPATIBLE),
        (record("R", field("tags", array("int"))), record("R", field("tags", array("long"))),
         "field 'tags[]': the reader's int cannot read the writer's long"),
        (map_of("double"), map_of("float"), COMPATIBLE),
        (map_of("int"), map_of("string"), "the reader's int cannot read the writer's string"),
        (array("string"), map_of("string"), "the reader's array cannot read the writer's map"),
        (array(record("Item", field("n", "int"), field("note", "string", default=""))),
         array(record("Item", field("n", "int"))), COMPATIBLE),
    ],
    "fixed": [
        (fixed("Hash", 16), fixed("Hash", 16), COMPATIBLE),
        (fixed("Hash", 16), fixed("Hash", 32),
         "the reader's fixed 'Hash' has size 16, the writer's 32"),
        (fixed("Hash", 16), fixed("Digest", 16),
         "the reader's fixed 'Hash' does not match the writer's fixed 'Digest'"),
        (fixed("Hash", 4), "bytes", "the reader's fixed 'Hash' cannot read the writer's bytes"),
    ],
    "unions": [
        (["null", "string", "long"], ["null", "string"], COMPATIBLE),
        (["null", "string"], ["null", "string", "long"],
         "no type of the reader's union [null, string] can read the writer's long"),
        (["string", "null"], ["null", "string"], COMPATIBLE),  # order does not matter
        ("long", ["int", "long"], COMPATIBLE),
        ("string", ["null", "string"], "the reader's string cannot read the writer's null"),
        (["null", "long"], "int", COMPATIBLE),  # promotion into a branch
        (["null", "string"], "long",
         "no type of the reader's union [null, string] can read the writer's long"),
        (["null", record("A", field("x", "int"))], record("A", field("x", "int")), COMPATIBLE),
        (["null", record("A", field("x", "int"))], record("B", field("x", "int")),
         "no type of the reader's union [null, record 'A'] can read the writer's record 'B'"),
    ],
}


@pytest.mark.parametrize(
    ("reader", "writer", "expected"),
    [case for cases in CASES.values() for case in cases],
    ids=[f"{rule}-{i}" for rule, cases in CASES.items() for i in range(len(cases))],
)
def test_resolution_rules(reader: Any, writer: Any, expected: str | None) -> None:
    reasons = can_read(reader, writer)
    if expected is COMPATIBLE:
        assert reasons == []
    else:
        assert len(reasons) == 1
        assert expected in reasons[0]


LINKED = record("Node", field("value", "int"), field("next", ["null", "Node"]))


def test_recursive_types_compare_without_looping() -> None:
    assert can_read(LINKED, LINKED) == []
    wider = record("Node", field("value", "long"), field("next", ["null", "Node"]),
                   field("label", "string", default=""))
    assert can_read(wider, LINKED) == []
    assert can_read(LINKED, wider) == [
        "field 'value': the reader's int cannot read the writer's long"
    ]


def test_mutually_recursive_types() -> None:
    tree = record("Tree", field("root", record("Branch", field("kids", array("Branch")),
                                               field("tree", ["null", "Tree"]))))
    assert can_read(tree, copy.deepcopy(tree)) == []


def test_an_incompatibility_in_a_reused_type_is_reported_once() -> None:
    old = record("R", field("a", fixed("H", 4)), field("b", "H"))
    new = record("R", field("a", fixed("H", 8)), field("b", "H"))
    assert can_read(new, old) == ["field 'a': the reader's fixed 'H' has size 8, the writer's 4"]


def test_every_incompatibility_is_listed() -> None:
    old = record("R", field("a", "long"), field("b", "string"))
    new = record("R", field("a", "int"), field("b", "int"), field("c", "string"))
    assert len(can_read(new, old)) == 3


# --- Levels ------------------------------------------------------------------------------------

V1 = record("Customer", field("id", "string"))
WITH_OPTIONAL_EMAIL = record(
    "Customer", field("id", "string"), field("email", "string", default="")
)
WITH_EMAIL = record("Customer", field("id", "string"), field("email", "string"))


@pytest.mark.parametrize(
    ("new", "level", "compatible"),
    [
        (WITH_OPTIONAL_EMAIL, "BACKWARD", True),  # added with a default
        (WITH_EMAIL, "BACKWARD", False),  # added without one: old data lacks it
        (WITH_EMAIL, "FORWARD", True),  # old readers ignore the new field
        (WITH_OPTIONAL_EMAIL, "FULL", True),
        (WITH_EMAIL, "FULL", False),
        (record("Customer", field("id", "long")), "NONE", True),
    ],
)
def test_adding_a_field(new: dict[str, Any], level: str, compatible: bool) -> None:
    assert (check(new, [V1], level) == []) is compatible


@pytest.mark.parametrize(
    ("existing", "level", "compatible"),
    [
        (WITH_EMAIL, "BACKWARD", True),  # the new reader skips the written email
        (WITH_EMAIL, "FORWARD", False),  # the old reader needs email, which has no default
        (WITH_OPTIONAL_EMAIL, "FORWARD", True),  # ... unless it has one
        (WITH_EMAIL, "FULL", False),
        (WITH_OPTIONAL_EMAIL, "FULL", True),
    ],
)
def test_removing_a_field(existing: dict[str, Any], level: str, compatible: bool) -> None:
    assert (check(V1, [existing], level) == []) is compatible


def test_adding_an_enum_symbol_is_backward_but_not_forward_compatible() -> None:
    old = load_schema(ENTITY_CHANGE_EVENT)
    new = copy.deepcopy(old)
    new["fields"][1]["type"]["symbols"].append("ARCHIVED")
    assert check(new, [old], "BACKWARD") == []
    assert check(new, [old], "FORWARD") == [
        "existing schema 1 of 1 cannot read data written with the new schema: field "
        "'event_type': the reader's enum 'ChangeType' lacks the writer's symbols ['ARCHIVED'] "
        "and has no default symbol"
    ]


def test_promoting_a_field_type() -> None:
    old = record("Reading", field("value", "int"))
    new = record("Reading", field("value", "double"))
    assert check(new, [old], "BACKWARD") == []
    assert check(new, [old], "FORWARD") != []


def test_widening_a_union() -> None:
    old = record("R", field("v", ["null", "string"], default=None))
    new = record("R", field("v", ["null", "string", "long"], default=None))
    assert check(new, [old], "BACKWARD") == []
    assert check(new, [old], "FORWARD") != []  # an old reader cannot read a long


def test_optional_field_added_to_the_change_event_is_fully_compatible() -> None:
    old = load_schema(ENTITY_CHANGE_EVENT)
    new = copy.deepcopy(old)
    new["fields"].append(field("trace_id", ["null", "string"], default=None))
    assert check(new, [old], "FULL_TRANSITIVE") == []


# Three versions: the optional `email` of v2 became required in v3 (BACKWARD against v2
# only), and v3' dropped `email`, which v1 required (FORWARD against v2 only).
REQUIRED_EMAIL_HISTORY = [V1, WITH_OPTIONAL_EMAIL]
DROPPED_EMAIL_HISTORY = [WITH_EMAIL, WITH_OPTIONAL_EMAIL]


@pytest.mark.parametrize(
    ("new", "existing", "level", "failing_version"),
    [
        (WITH_EMAIL, REQUIRED_EMAIL_HISTORY, "BACKWARD", None),
        (WITH_EMAIL, REQUIRED_EMAIL_HISTORY, "BACKWARD_TRANSITIVE", 1),
        (V1, DROPPED_EMAIL_HISTORY, "FORWARD", None),
        (V1, DROPPED_EMAIL_HISTORY, "FORWARD_TRANSITIVE", 1),
        (WITH_EMAIL, REQUIRED_EMAIL_HISTORY, "FULL", None),
        (WITH_EMAIL, REQUIRED_EMAIL_HISTORY, "FULL_TRANSITIVE", 1),
        (V1, DROPPED_EMAIL_HISTORY, "FULL_TRANSITIVE", 1),
    ],
)
def test_transitive_levels_check_every_version(
    new: dict[str, Any], existing: list[Any], level: str, failing_version: int | None
) -> None:
    reasons = check(new, existing, level)
    if failing_version is None:
        assert reasons == []
    else:
        assert len(reasons) == 1
        assert f"existing schema {failing_version} of 2" in reasons[0]
        assert "field 'email' has no default and is missing from the writer schema" in reasons[0]


def test_full_reports_both_directions() -> None:
    reasons = check(record("Customer", field("id", "long")), [V1], "FULL")
    assert reasons == [
        "the new schema cannot read data written with existing schema 1 of 1: field 'id': "
        "the reader's long cannot read the writer's string",
        "existing schema 1 of 1 cannot read data written with the new schema: field 'id': "
        "the reader's string cannot read the writer's long",
    ]


@pytest.mark.parametrize("level", COMPATIBILITY_LEVELS)
def test_a_first_version_is_always_compatible(level: str) -> None:
    assert check(WITH_EMAIL, [], level) == []


def test_levels_are_confluents() -> None:
    assert set(COMPATIBILITY_LEVELS) == {
        "BACKWARD", "BACKWARD_TRANSITIVE", "FORWARD", "FORWARD_TRANSITIVE",
        "FULL", "FULL_TRANSITIVE", "NONE",
    }
    with pytest.raises(ValueError, match="Unknown compatibility level 'backward'"):
        check(V1, [V1], "backward")


# --- Validity ----------------------------------------------------------------------------------


@pytest.mark.parametrize("name", EVENT_SCHEMAS)
def test_event_schemas_are_valid(name: str) -> None:
    assert validate_schema(json.dumps(load_schema(name))) == load_schema(name)


@pytest.mark.parametrize(
    ("text", "wrapped"),
    [('"string"', {"type": "string"}), ('["null", "long"]', {"type": ["null", "long"]})],
)
def test_top_level_primitive_or_union_is_valid(text: str, wrapped: dict[str, Any]) -> None:
    assert validate_schema(text) == wrapped


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("{", "Schema is not valid JSON"),
        ("", "Schema is not valid JSON"),
        ("5", "A schema is a JSON string, array or object, not 5"),
        ("null", "A schema is a JSON string, array or object, not None"),
        ('"nosuch"', "Unknown type 'nosuch'"),
        ('{"type": "record", "name": "R", "fields": [{"name": "a", "type": "Missing"}]}',
         "Unknown type 'Missing'"),
        ('{"type": "enum", "name": "E"}', "required attribute 'symbols'"),
        ('{"type": "enum", "name": "E", "symbols": "AB"}', "must be a list of strings"),
        ('{"type": "enum", "name": "E", "symbols": ["A", "A"]}', "unique"),
        ('{"type": "record", "name": "R"}', "Record 'R' needs a list of fields"),
        ('{"type": "record", "name": "1R", "fields": []}', "'1R' is not a valid Avro name"),
        ('{"type": "record", "name": "R", "fields": [{"name": "a-b", "type": "int"}]}',
         "Field name 'a-b' of 'R' is not a valid name"),
        ('{"type": "record", "name": "R", "fields": '
         '[{"name": "a", "type": "int"}, {"name": "a", "type": "long"}]}',
         "Record 'R' has two fields named 'a'"),
        ('{"type": "record", "name": "R", "fields": [{"name": "a", "type": "int", '
         '"default": "x"}]}', "Default value <x> must match schema type"),
        ('{"type": "fixed", "name": "F", "size": -1}', "must be a non-negative integer"),
        ('["null", "null"]', "A union may not contain 'null' twice"),
        ('["null", {"type": "array", "items": "int"}, {"type": "array", "items": "long"}]',
         "A union may not contain 'array' twice"),
        ('{"type": "record", "name": "R", "namespace": "n", "fields": [{"name": "a", "type": '
         '[{"type": "fixed", "name": "F", "size": 2}, "n.F"]}]}',
         "A union may not contain 'n.F' twice"),
        ('[["int"]]', "A union may not immediately contain another union"),
        ("[" * 100_000 + "]" * 100_000, "nested too deeply"),
    ],
)
def test_invalid_schema(text: str, message: str) -> None:
    with pytest.raises(InvalidSchema) as caught:
        validate_schema(text)
    assert message in str(caught.value)


def test_wrapped_top_level_schemas_compare_like_the_originals() -> None:
    optional = validate_schema('["null", "string"]')
    wider = validate_schema('["null", "string", "long"]')
    assert check(wider, [optional], "BACKWARD") == []
    assert check(wider, [optional], "FORWARD") == [
        "existing schema 1 of 1 cannot read data written with the new schema: no type of the "
        "reader's union [null, string] can read the writer's long"
    ]
    assert check(validate_schema('"string"'), [validate_schema('"bytes"')], "FULL") == []


def test_can_read_refuses_invalid_schemas() -> None:
    with pytest.raises(InvalidSchema):
        can_read(V1, {"type": "record", "name": "R", "fields": [{"name": "a"}]})


json_values = st.recursive(
    st.none() | st.booleans() | st.integers() | st.sampled_from(
        ["string", "int", "null", "record", "enum", "fixed", "array", "map", "R", "a", ""]
    ),
    lambda children: st.lists(children, max_size=4) | st.dictionaries(
        st.sampled_from(["type", "name", "fields", "items", "values", "symbols", "size",
                         "default", "namespace", "aliases"]),
        children, max_size=5,
    ),
    max_leaves=20,
)


@settings(max_examples=500, deadline=None)
@given(value=json_values)
def test_any_json_is_valid_or_raises_invalid_schema(value: Any) -> None:
    with contextlib.suppress(InvalidSchema):
        validate_schema(json.dumps(value))
