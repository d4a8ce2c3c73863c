"""The codec's generated reader and writer agree with fastavro byte for byte and value for
value, and hand whatever they do not take to the general path, which still names faults.

Schemas are registered in the in-memory resolver: what is compared is bytes and values,
for schemas (every Avro type) the platform's registry has no reason to hold; test_codec.py
says where the codec is tested over the real registry."""

from __future__ import annotations

import collections
import datetime
import decimal
import io
import uuid
from typing import Any

import fastavro
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from dictamesh.events import ENTITY_CHANGE_EVENT, EVENT_SCHEMAS, load_schema
from dictamesh.events.codec import AvroCodec, CodecError, InMemorySchemaResolver

# Every Avro type and the logical types fastavro converts, in one record.
EVERYTHING: dict[str, Any] = {"type": "record", "name": "Everything", "namespace": "t", "fields": [
    {"name": "flag", "type": "boolean"},
    {"name": "small", "type": "int"},
    {"name": "big", "type": "long"},
    {"name": "ratio", "type": "float"},
    {"name": "precise", "type": "double"},
    {"name": "blob", "type": "bytes"},
    {"name": "text", "type": "string"},
    {"name": "digest", "type": {"type": "fixed", "name": "Digest", "size": 4}},
    {"name": "colour", "type": {"type": "enum", "name": "Colour", "symbols": ["RED", "GREEN"]}},
    {"name": "tags", "type": {"type": "array", "items": "string"}},
    {"name": "scores", "type": {"type": "map", "values": "long"}},
    {"name": "maybe", "type": ["null", "string", "long"], "default": None},
    {"name": "nested", "type": {"type": "record", "name": "Inner", "fields": [
        {"name": "colour", "type": "Colour"},
        {"name": "digests", "type": {"type": "array", "items": "Digest"}},
        {"name": "grid", "type": {"type": "map", "values": {"type": "array", "items": "int"}}},
    ]}},
    {"name": "again", "type": ["null", "Inner"], "default": None},
    {"name": "day", "type": {"type": "int", "logicalType": "date"}},
    {"name": "at_ms", "type": {"type": "long", "logicalType": "timestamp-millis"}},
    {"name": "at_us", "type": {"type": "long", "logicalType": "timestamp-micros"}},
    {"name": "clock", "type": {"type": "int", "logicalType": "time-millis"}},
    {"name": "id", "type": {"type": "string", "logicalType": "uuid"}},
    {"name": "price", "type": {"type": "bytes", "logicalType": "decimal",
                               "precision": 9, "scale": 2}},
    {"name": "defaulted", "type": {"type": "array", "items": "long"}, "default": [1, 2]},
]}

_text = st.text(max_size=12)
_long = st.integers(-(2**63), 2**63 - 1)
_inner = st.fixed_dictionaries({
    "colour": st.sampled_from(["RED", "GREEN"]),
    "digests": st.lists(st.binary(min_size=4, max_size=4), max_size=3),
    "grid": st.dictionaries(_text, st.lists(st.integers(-(2**31), 2**31 - 1), max_size=3),
                            max_size=3),
})
_moment = st.datetimes(min_value=datetime.datetime(1900, 1, 1),  # noqa: DTZ001
                       max_value=datetime.datetime(2200, 1, 1),  # noqa: DTZ001
                       timezones=st.just(datetime.UTC))
everything = st.fixed_dictionaries({
    "flag": st.booleans(),
    "small": st.integers(-(2**31), 2**31 - 1),
    "big": _long,
    "ratio": st.floats(width=32, allow_nan=False) | st.integers(-1000, 1000),
    "precise": st.floats(allow_nan=False),
    "blob": st.binary(max_size=20),
    "text": st.text(max_size=70),  # past 63 bytes a length takes two varint bytes
    "digest": st.binary(min_size=4, max_size=4),
    "colour": st.sampled_from(["RED", "GREEN"]),
    "tags": st.lists(_text, max_size=70),
    "scores": st.dictionaries(_text, _long, max_size=4),
    "nested": _inner,
    "again": st.none() | _inner,
    "day": st.dates(min_value=datetime.date(1000, 1, 1)),
    "at_ms": _moment.map(lambda m: m.replace(microsecond=m.microsecond // 1000 * 1000)),
    "at_us": _moment,
    "clock": st.times().map(lambda t: t.replace(microsecond=t.microsecond // 1000 * 1000)),
    "id": st.uuids(),
    "price": st.decimals(min_value=-9999999, max_value=9999999, places=2),
}, optional={"defaulted": st.lists(_long, max_size=3), "maybe": st.none() | _text | _long})

FAST = settings(max_examples=400, deadline=None, suppress_health_check=[HealthCheck.too_slow])


def fastavro_bytes(schema: dict[str, Any], record: Any) -> bytes:
    out = io.BytesIO()
    fastavro.schemaless_writer(out, fastavro.parse_schema(schema), record)
    return out.getvalue()


def fastavro_record(schema: dict[str, Any], body: bytes) -> Any:
    return fastavro.schemaless_reader(io.BytesIO(body), fastavro.parse_schema(schema), None)


@pytest.fixture(scope="module")
def codec() -> AvroCodec:
    return AvroCodec(InMemorySchemaResolver())


def test_the_event_schemas_and_the_wide_one_have_both_fast_paths(codec: AvroCodec) -> None:
    """Otherwise the tests below would compare fastavro with itself."""
    for name, schema in [*((n, load_schema(n)) for n in EVENT_SCHEMAS), ("wide", EVERYTHING)]:
        plan = codec._writer_plan(f"{name}-value", schema)
        assert plan.read is not None, name
        assert plan.write is not None, name


@FAST
@given(record=everything)
def test_every_type_encodes_and_decodes_as_fastavro_does(
    codec: AvroCodec, record: dict[str, Any]
) -> None:
    plan = codec._writer_plan("wide-value", EVERYTHING)
    assert plan.write is not None
    assert plan.read is not None
    data = plan.write(record)  # the fast paths themselves: no general path to fall back on
    assert data[:5] == plan.header
    assert data[5:] == fastavro_bytes(EVERYTHING, record)
    assert plan.read(data) == fastavro_record(EVERYTHING, data[5:])
    assert codec.encode("wide-value", EVERYTHING, record) == data


@FAST
@given(record=everything, cut=st.integers(5, 400))
def test_a_cut_message_is_refused_as_the_general_path_refuses_it(
    codec: AvroCodec, record: dict[str, Any], cut: int
) -> None:
    data = codec.encode("wide-value", EVERYTHING, record)
    if cut < len(data):
        plan = codec._writer_plan("wide-value", EVERYTHING)
        assert plan.read is not None
        with pytest.raises(Exception):  # noqa: B017, PT011 - the fast path refuses by raising
            plan.read(data[:cut])
        with pytest.raises(CodecError) as caught:
            codec.decode(data[:cut])
        assert caught.value.reason == "bad_body"


class Attributes(collections.UserDict):  # a Mapping that is not a dict
    pass


def test_records_the_fast_writer_leaves_are_written_by_the_general_path(
    codec: AvroCodec,
) -> None:
    schema = load_schema(ENTITY_CHANGE_EVENT)
    plain = {"event_id": "e", "event_type": "CREATED",
             "timestamp": datetime.datetime(2025, 1, 1, tzinfo=datetime.UTC),
             "entity": {"type": "t", "id": "1", "version": 1}, "tenant": "a", "source": "s",
             "changed_fields": ["x"], "payload": None}
    expected = codec.encode("leave-value", schema, plain)
    # A tuple for the array, a Mapping for the record, a str subclass: all valid Avro.
    variants = [{**plain, "changed_fields": ("x",)},
                Attributes(plain),
                {**plain, "source": type("Name", (str,), {})("s")}]
    for variant in variants:
        assert codec.encode("leave-value", schema, variant) == expected


@pytest.mark.parametrize(
    ("change", "message"),
    [
        ({"flag": 1}, "field 'flag' expects boolean"),
        ({"small": 2**31}, "field 'small' expects int (32-bit)"),
        ({"ratio": True}, "field 'ratio' expects float"),
        ({"digest": b"abc"}, "expects 4 bytes"),
        ({"tags": "abc"}, "field 'tags' expects an array"),
        ({"scores": {1: 2}}, "expects string map keys"),
        ({"maybe": 1.5}, "field 'maybe' expects one of"),
        ({"id": "not checked by Avro", "extra": 1}, "field 'extra' is not in record"),
    ],
)
def test_what_does_not_fit_is_still_named(
    codec: AvroCodec, change: dict[str, Any], message: str
) -> None:
    record = {
        "flag": True, "small": 1, "big": 2, "ratio": 1.5, "precise": 2.5, "blob": b"",
        "text": "t", "digest": b"abcd", "colour": "RED", "tags": [], "scores": {},
        "nested": {"colour": "GREEN", "digests": [], "grid": {}},
        "day": datetime.date(2025, 1, 1),
        "at_ms": datetime.datetime(2025, 1, 1, tzinfo=datetime.UTC),
        "at_us": datetime.datetime(2025, 1, 1, tzinfo=datetime.UTC),
        "clock": datetime.time(12, 0), "id": uuid.uuid4(), "price": decimal.Decimal("1.50"),
    }
    codec.encode("wide-value", EVERYTHING, record)  # the record itself fits
    with pytest.raises(CodecError) as caught:
        codec.encode("wide-value", EVERYTHING, {**record, **change})
    assert caught.value.reason == "invalid_record"
    assert message in str(caught.value)
