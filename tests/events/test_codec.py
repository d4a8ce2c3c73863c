"""The Confluent wire-format Avro codec: exact bytes, schema ids, and every malformed input.

The codec is the library layer under Django (the import contracts keep it apart from the
catalog), so these tests give it the in-memory resolver it ships for benchmarks: what they
pin is the codec's bytes and how often it has to ask its resolver, which a counting
in-memory one shows exactly, on any schema id a test needs. The same codec over the
platform's real registry in PostgreSQL is tested where the platform uses it: the consumers
decode with it (tests/events/consumers, an unknown id there goes to the dead-letter topic in
test_poison.py), the outbox encodes with it (tests/events/test_outbox.py), and the
registry's own ids and compatibility rules are tests/schema_registry's.
"""

from __future__ import annotations

import contextlib
import copy
import datetime
import decimal
import io
import json
import struct
import threading
from pathlib import Path
from typing import Any

import fastavro
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from dictamesh import events
from dictamesh.events import (
    ENTITY_CHANGE_EVENT,
    ENTITY_REGISTERED,
    EVENT_SCHEMAS,
    RELATIONSHIP_CREATED,
    SAGA_STATE_CHANGED,
    load_schema,
)
from dictamesh.events.codec import (
    MAX_ZERO_WIDTH_ITEMS,
    AvroCodec,
    CodecError,
    Decoded,
    InMemorySchemaResolver,
    UnknownSchemaId,
    subject_for_topic,
)
from dictamesh.events.compatibility import validate_schema

WHEN = datetime.datetime(2025, 3, 1, 12, 30, 15, 123000, tzinfo=datetime.UTC)
CUSTOMER = {"type": "customer", "id": "directus:42", "version": 7}

RECORDS: dict[str, dict[str, Any]] = {
    ENTITY_CHANGE_EVENT: {
        "event_id": "0f8fad5b-d9cb-469f-a165-70867728950e",
        "event_type": "UPDATED",
        "timestamp": WHEN,
        "entity": CUSTOMER,
        "tenant": "acme",
        "source": "directus",
        "changed_fields": ["email", "name"],
        "payload": json.dumps({"email": "ann@example.com", "name": "Ann Ö"}),
    },
    ENTITY_REGISTERED: {
        "event_id": "7c9e6679-7425-40de-944b-e07fc1f90ae7",
        "timestamp": WHEN,
        "tenant": "acme",
        "entity": CUSTOMER,
        "source": "directus",
        "adapter": "directus",
        "schema_version": 3,
        "location": "https://directus.example.com/items/customers/42",
    },
    RELATIONSHIP_CREATED: {
        "event_id": "16fd2706-8baf-433b-82eb-8c7fada847da",
        "timestamp": WHEN,
        "tenant": "acme",
        "subject": CUSTOMER,
        "relationship_type": "PLACED",
        "object": {"type": "order", "id": "ecommerce:1001", "version": 0},
        "source": "ecommerce",
        "origin": "DERIVED",
        "properties": None,
    },
    SAGA_STATE_CHANGED: {
        "event_id": "5b1c3f0e-2d44-4b8e-9a51-0c9d1e2f3a4b",
        "timestamp": WHEN,
        "tenant": "acme",
        "saga_id": "9a7b2c1d-0e3f-4a5b-8c6d-7e8f9a0b1c2d",
        "definition": "create_invoice",
        "definition_version": 1,
        "from_state": "RUNNING",
        "to_state": "COMPENSATING",
        "step": "create_invoice",
        "error": "charge_invoice (action, attempt 1): PaymentDeclined: card declined",
        "trace_id": "4bf92f3577b34da6a3ce929d0e0e4736",
    },
}
SUBJECT = subject_for_topic("acme.customers.directus.entity_changed")


class CountingResolver(InMemorySchemaResolver):
    """The in-memory resolver, counting how often the codec has to ask it."""

    def __init__(self) -> None:
        super().__init__()
        self.calls = 0

    def register(self, subject: str, schema: dict[str, Any]) -> int:
        self.calls += 1
        return super().register(subject, schema)

    def schema_by_id(self, schema_id: int) -> dict[str, Any]:
        self.calls += 1
        return super().schema_by_id(schema_id)


@pytest.fixture
def resolver() -> CountingResolver:
    return CountingResolver()


@pytest.fixture
def codec(resolver: CountingResolver) -> AvroCodec:
    return AvroCodec(resolver)


def schemaless(schema: dict[str, Any], record: Any) -> bytes:
    out = io.BytesIO()
    fastavro.schemaless_writer(out, fastavro.parse_schema(schema), record)
    return out.getvalue()


def varint(value: int) -> bytes:
    """Avro's zigzag varint, written independently of the code under test."""
    zigzag = (value << 1) ^ (value >> 63)
    zigzag &= (1 << 64) - 1
    out = bytearray()
    while zigzag > 0x7F:
        out.append(zigzag & 0x7F | 0x80)
        zigzag >>= 7
    out.append(zigzag)
    return bytes(out)


def record_of(*fields: dict[str, Any]) -> dict[str, Any]:
    return {"type": "record", "name": "R", "fields": list(fields)}


def framed(schema_id: int, body: bytes) -> bytes:
    return b"\x00" + struct.pack(">I", schema_id) + body


# --- The schemas -------------------------------------------------------------------------------


def test_every_schema_file_is_listed_and_valid() -> None:
    files = Path(events.__file__).parent / "schemas"
    assert sorted(path.stem for path in files.glob("*.avsc")) == sorted(EVENT_SCHEMAS)
    for name in EVENT_SCHEMAS:
        text = (files / f"{name}.avsc").read_text("utf-8")
        schema = validate_schema(text)
        assert isinstance(schema, dict)  # our event schemas take no references
        assert schema["namespace"] == "com.dictamesh.events"


def test_every_event_uses_the_same_entity_reference() -> None:
    def entity_references(schema: dict[str, Any]) -> list[dict[str, Any]]:
        return [
            field["type"] for field in schema["fields"]
            if isinstance(field["type"], dict) and field["type"].get("name") == "EntityReference"
        ]

    # Events about entities point at them one way; a saga's transition names no entity.
    references = [ref for name in EVENT_SCHEMAS
                  for ref in entity_references(load_schema(name))]
    assert len(references) >= 3
    assert all(ref == references[0] for ref in references)
    assert [f["name"] for f in references[0]["fields"]] == ["type", "id", "version"]


def test_load_schema_returns_the_same_dict_and_rejects_unknown_names() -> None:
    assert load_schema(ENTITY_CHANGE_EVENT) is load_schema(ENTITY_CHANGE_EVENT)
    with pytest.raises(ValueError, match="Unknown event schema 'nope'"):
        load_schema("nope")


def test_change_event_defaults_fill_in_optional_fields(codec: AvroCodec) -> None:
    record = {k: v for k, v in RECORDS[ENTITY_CHANGE_EVENT].items()
              if k not in ("changed_fields", "payload")}
    decoded = codec.decode(codec.encode(SUBJECT, load_schema(ENTITY_CHANGE_EVENT), record))
    assert decoded.record["changed_fields"] == []
    assert decoded.record["payload"] is None


# --- Wire format and round trips ---------------------------------------------------------------


@pytest.mark.parametrize("name", EVENT_SCHEMAS)
def test_round_trip(codec: AvroCodec, name: str) -> None:
    schema = load_schema(name)
    decoded = codec.decode(codec.encode(f"{name}-value", schema, RECORDS[name]))
    assert decoded == Decoded(schema_id=decoded.schema_id, schema=schema, record=RECORDS[name])


@pytest.mark.parametrize("name", EVENT_SCHEMAS)
def test_exact_wire_bytes(codec: AvroCodec, resolver: CountingResolver, name: str) -> None:
    schema = load_schema(name)
    data = codec.encode(f"{name}-value", schema, RECORDS[name])
    schema_id = resolver.register(f"{name}-value", schema)
    assert data[0] == 0
    assert data[1:5] == struct.pack(">I", schema_id)
    assert data[5:] == schemaless(schema, RECORDS[name])


def test_epoch_millis_and_datetime_timestamps_encode_alike(codec: AvroCodec) -> None:
    schema = load_schema(ENTITY_CHANGE_EVENT)
    record = RECORDS[ENTITY_CHANGE_EVENT]
    millis = dict(record, timestamp=int(WHEN.timestamp() * 1000))
    assert codec.encode(SUBJECT, schema, millis) == codec.encode(SUBJECT, schema, record)


def test_schema_ids_are_global_and_idempotent(resolver: CountingResolver) -> None:
    schema = load_schema(ENTITY_CHANGE_EVENT)
    first = resolver.register("a-value", schema)
    assert resolver.register("a-value", copy.deepcopy(schema)) == first
    assert resolver.register("b-value", schema) == first
    assert resolver.register("a-value", load_schema(ENTITY_REGISTERED)) == first + 1
    assert resolver.subjects == {"a-value": [first, first + 1], "b-value": [first]}
    assert resolver.schema_by_id(first) == schema
    with pytest.raises(UnknownSchemaId) as caught:
        resolver.schema_by_id(999)
    assert caught.value.reason == "unknown_schema_id"


def test_hot_path_asks_the_resolver_once(codec: AvroCodec, resolver: CountingResolver) -> None:
    schema, record = load_schema(ENTITY_CHANGE_EVENT), RECORDS[ENTITY_CHANGE_EVENT]
    data = codec.encode(SUBJECT, schema, record)
    for _ in range(3):
        codec.encode(SUBJECT, schema, record)
        codec.encode(SUBJECT, copy.deepcopy(schema), record)  # equal schema, other object
        codec.decode(data)
    assert resolver.calls == 1  # the first encode's register; decode knew the id already

    consumer = AvroCodec(resolver)  # another process: knows nothing yet
    for _ in range(3):
        assert consumer.decode(data).record == record
    assert resolver.calls == 2


def test_the_same_schema_under_another_subject_is_registered_there(
    codec: AvroCodec, resolver: CountingResolver
) -> None:
    schema, record = load_schema(ENTITY_CHANGE_EVENT), RECORDS[ENTITY_CHANGE_EVENT]
    assert codec.encode("one-value", schema, record) == codec.encode("two-value", schema, record)
    assert set(resolver.subjects) == {"one-value", "two-value"}


def test_threads_share_one_codec(codec: AvroCodec, resolver: CountingResolver) -> None:
    errors: list[BaseException] = []
    payloads: set[bytes] = set()

    def work() -> None:
        try:
            for name in EVENT_SCHEMAS:
                data = codec.encode(f"{name}-value", load_schema(name), RECORDS[name])
                assert codec.decode(data).record == RECORDS[name]
                payloads.add(data)
        except BaseException as exc:
            errors.append(exc)

    threads = [threading.Thread(target=work) for _ in range(8)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert errors == []
    assert len(payloads) == len(EVENT_SCHEMAS)  # one id per schema, whoever registered first


def test_subject_for_topic_is_the_topic_name_strategy() -> None:
    assert subject_for_topic("acme.customers.directus.entity_changed") == (
        "acme.customers.directus.entity_changed-value"
    )


# --- Records that do not fit -------------------------------------------------------------------


def _change(**changes: Any) -> dict[str, Any]:
    return {**RECORDS[ENTITY_CHANGE_EVENT], **changes}


def _without(field: str) -> dict[str, Any]:
    return {k: v for k, v in RECORDS[ENTITY_CHANGE_EVENT].items() if k != field}


@pytest.mark.parametrize(
    ("record", "message"),
    [
        (_change(entity={**CUSTOMER, "version": "7"}),
         "field 'entity.version' expects long (64-bit), got str '7'"),
        (_change(entity={**CUSTOMER, "version": 2**63}), "field 'entity.version' expects long"),
        (_change(entity={**CUSTOMER, "version": True}), "field 'entity.version' expects long"),
        (_change(entity={"type": "customer", "id": "1"}),
         "field 'entity.version' is required and has no default"),
        (_without("tenant"), "field 'tenant' is required and has no default"),
        (_change(tennant="acme"), "field 'tennant' is not in record EntityChangeEvent"),
        (_change(event_type="ARCHIVED"), "field 'event_type' expects one of ['CREATED', "),
        (_change(changed_fields="email"), "field 'changed_fields' expects an array"),
        (_change(changed_fields=["email", 3]), "field 'changed_fields[1]' expects string"),
        (_change(payload={"email": "x"}), "field 'payload' expects string, got dict"),
        (_change(source=None), "field 'source' expects string, got NoneType None"),
        (_change(timestamp="2025-03-01"), "field 'timestamp' expects long"),
        (["not", "a", "record"], "expects record EntityChangeEvent (a mapping), got list"),
    ],
)
def test_record_that_does_not_fit_is_refused(codec: AvroCodec, record: Any, message: str) -> None:
    with pytest.raises(CodecError) as caught:
        codec.encode(SUBJECT, load_schema(ENTITY_CHANGE_EVENT), record)
    assert caught.value.reason == "invalid_record"
    assert message in str(caught.value)


def test_value_fastavro_cannot_convert_is_refused(codec: AvroCodec) -> None:
    schema = {"type": "record", "name": "Price", "fields": [
        {"name": "amount", "type": {"type": "bytes", "logicalType": "decimal",
                                    "precision": 4, "scale": 2}},
    ]}
    with pytest.raises(CodecError) as caught:
        codec.encode("price-value", schema, {"amount": decimal.Decimal("1.234")})
    assert caught.value.reason == "invalid_record"


@pytest.mark.parametrize(
    ("schema", "message"),
    [
        (record_of({"name": "a"}), "Record field 'a' is missing 'type'"),
        (record_of({"name": "a", "type": [["int"]]}), "may not immediately contain another union"),
        (record_of({"name": "a", "type": {1, 2}}), "Schema is not JSON"),
    ],
)
def test_invalid_schema_is_refused_before_registration(
    codec: AvroCodec, resolver: CountingResolver, schema: dict[str, Any], message: str
) -> None:
    with pytest.raises(CodecError) as caught:
        codec.encode("x-value", schema, {})
    assert caught.value.reason == "invalid_schema"
    assert message in str(caught.value)
    assert resolver.calls == 0


# --- Bytes that are not a message --------------------------------------------------------------


@pytest.fixture
def change_id(resolver: CountingResolver) -> int:
    return resolver.register(SUBJECT, load_schema(ENTITY_CHANGE_EVENT))


@pytest.fixture
def valid(codec: AvroCodec) -> bytes:
    return codec.encode(SUBJECT, load_schema(ENTITY_CHANGE_EVENT), RECORDS[ENTITY_CHANGE_EVENT])


def _refused(codec: AvroCodec, data: bytes, reason: str) -> str:
    with pytest.raises(CodecError) as caught:
        codec.decode(data)
    assert caught.value.reason == reason, caught.value
    return str(caught.value)


@pytest.mark.parametrize("data", [b"", b"\x00", b"\x00\x00\x00\x01"])
def test_too_short(codec: AvroCodec, data: bytes) -> None:
    assert "shorter than the 5-byte Confluent header" in _refused(codec, data, "too_short")


def test_wrong_magic_byte(codec: AvroCodec, valid: bytes) -> None:
    assert "First byte is 1" in _refused(codec, b"\x01" + valid[1:], "bad_magic")
    _refused(codec, b'{"event_id": "json, not avro"}', "bad_magic")


def test_unknown_schema_id(codec: AvroCodec, valid: bytes) -> None:
    with pytest.raises(UnknownSchemaId) as caught:
        codec.decode(framed(4242, valid[5:]))
    assert caught.value.reason == "unknown_schema_id"
    assert caught.value.schema_id == 4242


def test_every_truncation_is_refused(codec: AvroCodec, valid: bytes) -> None:
    for end in range(5, len(valid)):
        _refused(codec, valid[:end], "bad_body")


def test_trailing_bytes(codec: AvroCodec, valid: bytes) -> None:
    assert "1 byte(s) follow the end" in _refused(codec, valid + b"\x00", "trailing_bytes")


def test_negative_length(codec: AvroCodec, change_id: int) -> None:
    message = _refused(codec, framed(change_id, varint(-3) + b"abcdef"), "bad_body")
    assert "negative" in message


@pytest.mark.parametrize("length", [2**31, 2**62, 2**63 - 1])
def test_huge_length_allocates_nothing(codec: AvroCodec, change_id: int, length: int) -> None:
    message = _refused(codec, framed(change_id, varint(length) + b"abc"), "bad_body")
    assert f"a length of {length} exceeds the 3 bytes left" in message


def test_varint_longer_than_a_long(codec: AvroCodec, change_id: int) -> None:
    assert "10 bytes" in _refused(codec, framed(change_id, b"\xff" * 11 + b"\x00"), "bad_body")


def test_bad_utf8(codec: AvroCodec, change_id: int) -> None:
    body = _change_body(event_id=varint(2) + b"\xff\xfe")
    message = _refused(codec, framed(change_id, body), "bad_body")
    assert "utf-8" in message


def _change_body(**overrides: bytes) -> bytes:
    """An EntityChangeEvent body from its fields' encodings, some replaced."""
    parts = {
        "event_id": varint(1) + b"e",
        "event_type": varint(1),
        "timestamp": varint(0),
        "entity": varint(1) + b"t" + varint(1) + b"i" + varint(0),
        "tenant": varint(1) + b"a",
        "source": varint(1) + b"s",
        "changed_fields": varint(0),
        "payload": varint(0),
    }
    return b"".join({**parts, **overrides}.values())


def test_hand_built_body_decodes(codec: AvroCodec, change_id: int) -> None:
    record = codec.decode(framed(change_id, _change_body())).record
    assert record["event_type"] == "UPDATED"
    assert record["entity"] == {"type": "t", "id": "i", "version": 0}


@pytest.mark.parametrize(
    ("override", "message"),
    [
        # fastavro alone would read index -1 as the last symbol / union branch
        ({"event_type": varint(-1)}, "enum ChangeType index -1 is not in 0..2"),
        ({"event_type": varint(3)}, "index 3 is not in 0..2"),
        ({"payload": varint(-1) + varint(0)}, "union index -1 is not in 0..1"),
        ({"payload": varint(2)}, "union index 2 is not in 0..1"),
        ({"changed_fields": varint(10**9) + varint(0)}, "1000000000 items cannot fit"),
    ],
)
def test_out_of_range_counts_and_indexes(
    codec: AvroCodec, change_id: int, override: dict[str, bytes], message: str
) -> None:
    assert message in _refused(codec, framed(change_id, _change_body(**override)), "bad_body")


def test_negative_block_count_with_its_size_is_valid(codec: AvroCodec, change_id: int) -> None:
    items = varint(1) + b"x" + varint(1) + b"y"
    blocked = varint(-2) + varint(len(items)) + items + varint(0)
    record = codec.decode(framed(change_id, _change_body(changed_fields=blocked))).record
    assert record["changed_fields"] == ["x", "y"]


ZERO_WIDTH = {"type": "record", "name": "Nothing", "fields": [
    {"name": "nulls", "type": {"type": "array", "items": "null"}},
]}


def test_items_that_take_no_bytes_are_bounded(
    codec: AvroCodec, resolver: CountingResolver
) -> None:
    schema_id = resolver.register("nothing-value", ZERO_WIDTH)
    assert codec.decode(framed(schema_id, varint(3) + varint(0))).record == {
        "nulls": [None, None, None]
    }
    # Six bytes that would otherwise make fastavro build a list of 2**60 Nones.
    data = framed(schema_id, varint(2**60) + varint(0))
    assert f"more than {MAX_ZERO_WIDTH_ITEMS} items" in _refused(codec, data, "bad_body")


def test_recursive_schema_round_trips_and_scans(codec: AvroCodec) -> None:
    linked = {"type": "record", "name": "Node", "fields": [
        {"name": "value", "type": "long"},
        {"name": "next", "type": ["null", "Node"]},
        {"name": "children", "type": {"type": "array", "items": "Node"}, "default": []},
    ]}
    record = {"value": 1, "next": {"value": 2, "next": None, "children": []},
              "children": [{"value": 3, "next": None, "children": []}]}
    data = codec.encode("node-value", linked, record)
    assert codec.decode(data).record == record
    _refused(codec, data[:-1], "bad_body")
    with pytest.raises(CodecError, match=r"field 'next\.value' expects long"):
        codec.encode("node-value", linked, {**record, "next": {"value": "2", "next": None}})


# --- Any bytes at all --------------------------------------------------------------------------

FUZZ = settings(max_examples=600, deadline=None,
                suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow])


def _decodes_or_refuses(codec: AvroCodec, data: bytes) -> None:
    with contextlib.suppress(CodecError):
        codec.decode(data)


@FUZZ
@given(data=st.binary(max_size=64))
def test_random_bytes_raise_only_codec_errors(codec: AvroCodec, data: bytes) -> None:
    _decodes_or_refuses(codec, data)


@FUZZ
@given(name=st.sampled_from([*EVENT_SCHEMAS, "zero_width"]), body=st.binary(max_size=128))
def test_random_bodies_after_a_known_header_raise_only_codec_errors(
    codec: AvroCodec, resolver: CountingResolver, name: str, body: bytes
) -> None:
    schema = ZERO_WIDTH if name == "zero_width" else load_schema(name)
    _decodes_or_refuses(codec, framed(resolver.register(f"{name}-value", schema), body))


@FUZZ
@given(
    name=st.sampled_from(EVENT_SCHEMAS),
    edits=st.lists(st.tuples(st.integers(5, 400), st.integers(0, 255), st.booleans()),
                   min_size=1, max_size=4),
    cut=st.integers(0, 400),
)
def test_corrupted_messages_raise_only_codec_errors(
    codec: AvroCodec, name: str, edits: list[tuple[int, int, bool]], cut: int
) -> None:
    data = bytearray(codec.encode(f"{name}-value", load_schema(name), RECORDS[name]))
    for position, byte, insert in edits:
        position %= len(data)
        if insert:
            data.insert(position, byte)
        else:
            data[position] = byte
    _decodes_or_refuses(codec, bytes(data[: max(cut, 5)]))


_text = st.text(max_size=30)
change_events = st.fixed_dictionaries({
    "event_id": _text,
    "event_type": st.sampled_from(["CREATED", "UPDATED", "DELETED"]),
    "timestamp": st.datetimes(  # hypothesis takes naive bounds and adds the timezone
        min_value=datetime.datetime(1970, 1, 1),  # noqa: DTZ001
        max_value=datetime.datetime(2200, 1, 1),  # noqa: DTZ001
        timezones=st.just(datetime.UTC),
    ).map(lambda moment: moment.replace(microsecond=moment.microsecond // 1000 * 1000)),
    "entity": st.fixed_dictionaries(
        {"type": _text, "id": _text, "version": st.integers(-(2**63), 2**63 - 1)}
    ),
    "tenant": _text,
    "source": _text,
    "changed_fields": st.lists(_text, max_size=5),
    "payload": st.none() | _text,
})


@settings(max_examples=300, deadline=None,
          suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow])
@given(record=change_events)
def test_any_valid_change_event_round_trips(codec: AvroCodec, record: dict[str, Any]) -> None:
    schema = load_schema(ENTITY_CHANGE_EVENT)
    data = codec.encode(SUBJECT, schema, record)
    assert data[5:] == schemaless(schema, record)
    assert codec.decode(data).record == record
