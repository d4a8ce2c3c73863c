"""Our reader/writer verdicts agree with Apache Avro's own checker on generated schema pairs.

``avro.compatibility.ReaderWriterCompatibilityChecker`` is the Python port of Java's
``SchemaCompatibility``, the checker Confluent's registry and Karapace run. We keep our own
(it names the field and the rule in its messages, which the registry returns to users), and
this test holds the two to the same verdict on pairs drawn from one small vocabulary, so
that promotions, unions, defaults, enum symbols, fixed sizes and nesting meet each other.

Named types are named after where they sit (field path and kind), so that a reader and a
writer that put a record, enum or fixed at the same place share its name, as real schema
versions do; names never repeat within a schema. No namespaces or aliases: Java and we
match names alike there, but avro's Python port compares a short name with a full one.
"""

from __future__ import annotations

import json
from typing import Any

import pytest
from avro.compatibility import ReaderWriterCompatibilityChecker, SchemaCompatibilityType
from avro.schema import parse as avro_parse
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from dictamesh.events.compatibility import can_read

PRIMITIVES = ("null", "boolean", "int", "long", "float", "double", "bytes", "string")
FIELD_NAMES = ("a", "b", "c")
SYMBOLS = ("RED", "GREEN", "BLUE")
PRIMITIVE_DEFAULTS = {"null": None, "boolean": False, "int": 0, "long": 0, "float": 0.0,
                      "double": 0.0, "bytes": "", "string": ""}


def default_of(schema: Any) -> tuple[bool, Any]:
    """(has one, the value) — a valid default for ``schema``; records get none here."""
    if isinstance(schema, str):
        return True, PRIMITIVE_DEFAULTS[schema]
    if isinstance(schema, list):
        return default_of(schema[0])  # a union's default is of its first branch
    kind = schema["type"]
    if kind == "enum":
        return True, schema["symbols"][0]
    if kind == "fixed":
        return True, "\u0000" * schema["size"]
    if kind == "array":
        return True, []
    if kind == "map":
        return True, {}
    return False, None


def kind_of(schema: Any) -> str:
    return schema if isinstance(schema, str) else schema["type"]


@st.composite
def schemas(draw: st.DrawFn, path: str = "R", depth: int = 0) -> Any:
    """A schema whose named types are named after ``path``, at most 3 levels deep."""
    kinds = [*PRIMITIVES, "enum", "fixed"]
    if depth < 3:
        kinds += ["record", "array", "map", "union"]
    kind = draw(st.sampled_from(kinds))
    if kind in PRIMITIVES:
        return kind
    if kind == "enum":
        enum: dict[str, Any] = {"type": "enum", "name": f"E_{path}",
                                "symbols": draw(st.lists(st.sampled_from(SYMBOLS), min_size=1,
                                                         max_size=3, unique=True))}
        if draw(st.booleans()):
            enum["default"] = draw(st.sampled_from(enum["symbols"]))
        return enum
    if kind == "fixed":
        return {"type": "fixed", "name": f"F_{path}", "size": draw(st.sampled_from((2, 4)))}
    if kind == "array":
        return {"type": "array", "items": draw(schemas(f"{path}_i", depth + 1))}
    if kind == "map":
        return {"type": "map", "values": draw(schemas(f"{path}_v", depth + 1))}
    if kind == "union":
        return draw(unions(path, depth))
    return draw(records(path, depth))


@st.composite
def unions(draw: st.DrawFn, path: str, depth: int) -> list[Any]:
    """2-3 branches of distinct kinds (Avro allows one branch per unnamed type)."""
    branches: list[Any] = []
    for _ in range(draw(st.integers(2, 3))):
        branch = draw(schemas(path, depth + 1).filter(lambda s: not isinstance(s, list)))
        if kind_of(branch) not in {kind_of(b) for b in branches}:
            branches.append(branch)
    return branches


@st.composite
def records(draw: st.DrawFn, path: str = "R", depth: int = 0) -> dict[str, Any]:
    fields = []
    for name in draw(st.lists(st.sampled_from(FIELD_NAMES), max_size=3, unique=True)):
        type_ = draw(schemas(f"{path}_{name}", depth + 1))
        field: dict[str, Any] = {"name": name, "type": type_}
        has_default, value = default_of(type_)
        if has_default and draw(st.booleans()):
            field["default"] = value
        fields.append(field)
    return {"type": "record", "name": f"R_{path}" if depth else "R", "fields": fields}


def avro_says_compatible(reader: Any, writer: Any) -> bool:
    checker = ReaderWriterCompatibilityChecker()
    result = checker.get_compatibility(avro_parse(json.dumps(reader)),
                                       avro_parse(json.dumps(writer)))
    return result.compatibility is SchemaCompatibilityType.compatible


@pytest.mark.parametrize("writer", PRIMITIVES)
@pytest.mark.parametrize("reader", PRIMITIVES)
def test_every_primitive_pair_agrees_with_apache_avro(reader: str, writer: str) -> None:
    """The promotions, all 64 pairs: too few for a generator to be sure to draw each."""
    assert (not can_read(reader, writer)) == avro_says_compatible(reader, writer)


@settings(max_examples=400, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(reader=records(), writer=records())
def test_record_verdicts_agree_with_apache_avro(reader: Any, writer: Any) -> None:
    reasons = can_read(reader, writer)
    assert (not reasons) == avro_says_compatible(reader, writer), reasons


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(reader=schemas(), writer=schemas())
def test_any_type_verdicts_agree_with_apache_avro(reader: Any, writer: Any) -> None:
    reasons = can_read(reader, writer)
    assert (not reasons) == avro_says_compatible(reader, writer), reasons


def test_the_oracle_tells_incompatible_pairs_apart() -> None:
    """Guards the oracle itself: a checker that always says "compatible" would agree less."""
    assert avro_says_compatible("long", "int")
    assert not avro_says_compatible("int", "long")
    assert can_read("long", "int") == []
    assert can_read("int", "long") != []
