"""Schema references: an Avro record using a named type registered under another subject
(our shared EntityReference), through the API, compatibility checks and the codec."""

from __future__ import annotations

import io
import json

import pytest
from fastavro import parse_schema, schemaless_writer

from dictamesh.events.codec import HEADER, MAGIC_BYTE, AvroCodec, CodecError

pytestmark = pytest.mark.django_db

ENTITY_REFERENCE = {"type": "record", "name": "EntityReference", "namespace": "dictamesh",
                    "fields": [{"name": "type", "type": "string"},
                               {"name": "id", "type": "string"}]}
# v2 adds a field with a default: BACKWARD-compatible; v3 one without: not.
ENTITY_REFERENCE_V2 = {**ENTITY_REFERENCE, "fields": [
    *ENTITY_REFERENCE["fields"], {"name": "version", "type": "long", "default": 0}]}
ENTITY_REFERENCE_V3 = {**ENTITY_REFERENCE, "fields": [
    *ENTITY_REFERENCE_V2["fields"], {"name": "kind", "type": "string"}]}
ORDER = json.dumps({"type": "record", "name": "Order", "namespace": "shop",
                    "fields": [{"name": "number", "type": "long"},
                               {"name": "customer", "type": "dictamesh.EntityReference"}]})


def _ref(version: int) -> dict[str, object]:
    return {"name": "dictamesh.EntityReference", "subject": "entity-reference",
            "version": version}


@pytest.fixture
def order(api) -> int:
    """EntityReference v1 registered, and an Order using it; the Order's id."""
    api.register("entity-reference", json.dumps(ENTITY_REFERENCE))
    status, body = api.call("post", "subjects/orders-value/versions",
                            {"schema": ORDER, "references": [_ref(1)]})
    assert status == 200, body
    return int(body["id"])


def test_a_schema_with_references_is_served_with_them(api, order):
    status, body = api.call("get", "subjects/orders-value/versions/1")
    assert (status, body["references"], body["id"]) == (200, [_ref(1)], order)
    assert api.call("get", f"schemas/ids/{order}") == (
        200, {"schema": ORDER, "references": [_ref(1)]})
    # The same text with its references is found; the type is unknown without them.
    status, body = api.call("post", "subjects/orders-value",
                            {"schema": ORDER, "references": [_ref(1)]})
    assert (status, body["id"]) == (200, order)
    status, body = api.call("post", "subjects/orders-value", {"schema": ORDER})
    assert (status, body["error_code"]) == (422, 42201)
    assert "dictamesh.EntityReference" in body["message"]
    # Registering again is idempotent.
    assert api.call("post", "subjects/orders-value/versions",
                    {"schema": ORDER, "references": [_ref(1)]}) == (200, {"id": order})


def test_referenced_versions_list_their_users_and_stay(api, order):
    assert api.call("get", "subjects/entity-reference/versions/1/referencedby") == (200, [order])
    assert api.call("get", "subjects/entity-reference/versions/latest/referencedby") == (
        200, [order])
    for path in ("subjects/entity-reference/versions/1", "subjects/entity-reference"):
        status, body = api.call("delete", path)
        assert (status, body["error_code"]) == (422, 42206), path
        assert f"referenced by schemas [{order}]" in body["message"]
    # Once its user is soft-deleted, the referenced version may be soft-deleted, but not
    # permanently: messages written with the user may still be on Kafka.
    assert api.call("delete", "subjects/orders-value") == (200, [1])
    assert api.call("get", "subjects/entity-reference/versions/1/referencedby") == (200, [])
    assert api.call("delete", "subjects/entity-reference") == (200, [1])
    status, body = api.call("delete", "subjects/entity-reference?permanent=true")
    assert (status, body["error_code"]) == (422, 42206)
    assert api.call("delete", "subjects/orders-value?permanent=true") == (200, [1])
    assert api.call("delete", "subjects/entity-reference?permanent=true") == (200, [1])


@pytest.mark.parametrize(("references", "message"), [
    ([_ref(9)], "subject 'entity-reference' version 9 names no registered version"),
    ([{"name": "x", "subject": "entity-reference"}], "each reference is"),
    ([{"name": "x", "subject": "entity-reference", "version": "1"}], "each reference is"),
    ("entity-reference", "'references' must be a list"),
    ([["entity-reference", 1]], "each reference is"),
])
def test_bad_references_are_explained(api, order, references, message):
    status, body = api.call("post", "subjects/orders-value/versions",
                            {"schema": ORDER, "references": references})
    assert (status, body["error_code"]) == (422, 42201)
    assert message in body["message"]


def test_compatibility_follows_the_referenced_types(api, order):
    assert api.call("put", "config/entity-reference", {"compatibility": "NONE"})[0] == 200
    api.register("entity-reference", json.dumps(ENTITY_REFERENCE_V2))
    api.register("entity-reference", json.dumps(ENTITY_REFERENCE_V3))
    # Same text, newer EntityReference: v2 reads v1's data, v3 does not (no "kind").
    assert api.call("post", "compatibility/subjects/orders-value/versions?verbose=true",
                    {"schema": ORDER, "references": [_ref(2)]}) == (
        200, {"is_compatible": True, "messages": []})
    status, body = api.call("post", "compatibility/subjects/orders-value/versions?verbose=true",
                            {"schema": ORDER, "references": [_ref(3)]})
    assert (status, body["is_compatible"]) == (200, False)
    assert "field 'customer.kind' has no default" in body["messages"][0]
    status, body = api.call("post", "subjects/orders-value/versions",
                            {"schema": ORDER, "references": [_ref(3)]})
    assert (status, body["error_code"]) == (409, 409)
    status, body = api.call("post", "subjects/orders-value/versions",
                            {"schema": ORDER, "references": [_ref(2)]})
    assert status == 200
    assert body["id"] != order  # the same text with other references is another schema


def test_the_codec_reads_a_message_written_with_references(order):
    """What a Confluent serializer writes for a referencing schema: the codec resolves the
    referenced type through the registry when it first meets the id."""
    from apps.catalog.schema_registry.resolver import RegistrySchemaResolver

    named: dict[str, dict] = {}
    parse_schema(ENTITY_REFERENCE, named)
    writer = parse_schema(json.loads(ORDER), named)
    record = {"number": 7, "customer": {"type": "customer", "id": "directus:42"}}
    out = io.BytesIO(HEADER.pack(MAGIC_BYTE, order))
    out.seek(HEADER.size)
    schemaless_writer(out, writer, record)
    decoded = AvroCodec(RegistrySchemaResolver()).decode(out.getvalue())
    assert (decoded.schema_id, decoded.record) == (order, record)
    # The scan covers the referenced type too: a body cut inside it is refused.
    with pytest.raises(CodecError, match="exceeds the 8 bytes left") as refused:
        AvroCodec(RegistrySchemaResolver()).decode(out.getvalue()[:-3])
    assert refused.value.reason == "bad_body"
