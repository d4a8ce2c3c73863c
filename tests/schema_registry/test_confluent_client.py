"""Confluent's own Python client (confluent-kafka's SchemaRegistryClient, AvroSerializer and
AvroDeserializer) against the registry over real HTTP: each call a Kafka application makes,
the error codes it branches on, schema references, and messages crossing between its
serializers and the project's codec."""

from __future__ import annotations

import json
from collections.abc import Iterator

import pytest
from confluent_kafka.schema_registry import (
    Schema,
    SchemaReference,
    SchemaRegistryClient,
)
from confluent_kafka.schema_registry.avro import AvroDeserializer, AvroSerializer
from confluent_kafka.schema_registry.error import SchemaRegistryError
from confluent_kafka.serialization import MessageField, SerializationContext

from dictamesh.events.codec import AvroCodec
from tests.schema_registry.conftest import PASSWORD, USER_V1, USER_V2, USER_V3_INCOMPATIBLE
from tests.schema_registry.test_references import ENTITY_REFERENCE, ORDER

# Reads v2's data (which has "email") but not v1's (which lacks it, with no default).
USER_EMAIL_REQUIRED = json.dumps({
    "type": "record", "name": "User", "namespace": "dictamesh.test",
    "fields": [{"name": "id", "type": "string"}, {"name": "email", "type": "string"}],
})


def _client(url: str, username: str) -> SchemaRegistryClient:
    # No retries: a failure must show as the error it is, at once.
    return SchemaRegistryClient({"url": f"{url}/schema-registry",
                                 "basic.auth.user.info": f"{username}:{PASSWORD}",
                                 "max.retries": 0})


@pytest.fixture
def client(live_server, django_user_model, transactional_db) -> Iterator[SchemaRegistryClient]:
    # Subjects without a tenant prefix are the platform's: a platform admin registers them.
    django_user_model.objects.create_superuser("producer", "", PASSWORD)
    with _client(live_server.url, "producer") as client:
        yield client
    # Closing its kept-alive connections ends the server threads and their database
    # sessions, so the test database can be dropped at the end of the run.


def _error(call, *args, **kwargs) -> SchemaRegistryError:
    with pytest.raises(SchemaRegistryError) as raised:
        call(*args, **kwargs)
    return raised.value


def test_register_read_and_look_up(client):
    first = client.register_schema("users-value", Schema(USER_V1, "AVRO"))
    second = client.register_schema("users-value", Schema(USER_V2, "AVRO"))
    assert client.get_schema(first).schema_str == USER_V1
    assert client.get_versions("users-value") == [1, 2]
    assert client.get_subjects() == ["users-value"]
    assert client.get_schema_types() == ["AVRO"]
    found = client.lookup_schema("users-value", Schema(USER_V2, "AVRO"))
    assert (found.schema_id, found.version, found.subject) == (second, 2, "users-value")
    latest = client.get_latest_version("users-value")
    assert (latest.schema_id, latest.version) == (second, 2)
    assert client.get_version("users-value", 1).schema_id == first
    assert [(v.subject, v.version) for v in client.get_schema_versions(first)] == [
        ("users-value", 1)]
    assert client.get_subjects_by_schema_id(first) == ["users-value"]
    error = _error(client.get_schema, 2**31 - 1)
    assert (error.http_status_code, error.error_code) == (404, 40403)
    error = _error(client.get_version, "users-value", 9)
    assert (error.http_status_code, error.error_code) == (404, 40402)
    error = _error(client.register_schema, "users-value", Schema("{not json", "AVRO"))
    assert (error.http_status_code, error.error_code) == (422, 42201)


def test_compatibility_calls(client):
    assert client.get_compatibility() == "BACKWARD"
    client.register_schema("users-value", Schema(USER_V1, "AVRO"))
    error = _error(client.get_compatibility, "users-value")
    assert error.error_code == 40408
    assert client.set_compatibility("users-value", "FULL") == {"compatibility": "FULL"}
    assert client.get_compatibility("users-value") == "FULL"
    assert client.test_compatibility("users-value", Schema(USER_V2, "AVRO")) is True
    assert client.test_compatibility("users-value", Schema(USER_V3_INCOMPATIBLE, "AVRO"),
                                     version=1, verbose=True) is False
    assert client.test_compatibility_all_versions(
        "users-value", Schema(USER_V3_INCOMPATIBLE, "AVRO")) is False
    error = _error(client.register_schema, "users-value", Schema(USER_V3_INCOMPATIBLE, "AVRO"))
    assert (error.http_status_code, error.error_code) == (409, 409)
    error = _error(client.set_compatibility, "users-value", "SOMETIMES")
    assert error.error_code == 42203


def test_transitive_compatibility_against_latest_matches_registration(client):
    client.set_compatibility("users-value", "BACKWARD_TRANSITIVE")
    client.register_schema("users-value", Schema(USER_V1, "AVRO"))
    client.register_schema("users-value", Schema(USER_V2, "AVRO"))
    candidate = Schema(USER_EMAIL_REQUIRED, "AVRO")
    # Confluent's registry answers True here (its issue #1681), then refuses to register.
    assert client.test_compatibility("users-value", candidate, verbose=True) is False
    assert client.test_compatibility_all_versions("users-value", candidate) is False
    assert client.test_compatibility("users-value", candidate, version=2) is True
    assert _error(client.register_schema, "users-value", candidate).http_status_code == 409


def test_soft_and_permanent_deletes(client):
    client.register_schema("users-value", Schema(USER_V1, "AVRO"))
    client.register_schema("users-value", Schema(USER_V2, "AVRO"))
    assert client.delete_version("users-value", 2) == 2
    assert client.get_versions("users-value") == [1]
    assert client.get_versions("users-value", deleted=True) == [1, 2]
    assert client.delete_version("users-value", 2, permanent=True) == 2
    error = _error(client.delete_subject, "users-value", permanent=True)
    assert (error.http_status_code, error.error_code) == (404, 40405)
    assert client.delete_subject("users-value") == [1]
    assert client.get_subjects() == []
    assert client.get_subjects(deleted=True) == ["users-value"]
    assert client.delete_subject("users-value", permanent=True) == [1]
    assert client.get_subjects(deleted=True) == []
    error = _error(client.get_versions, "users-value")
    assert (error.http_status_code, error.error_code) == (404, 40401)


def test_modes_and_contexts(client):
    assert client.get_global_mode() == "READWRITE"
    assert client.get_contexts() == ["."]
    client.register_schema("users-value", Schema(USER_V1, "AVRO"))
    assert client.update_mode("users-value", "READONLY") == "READONLY"
    assert client.get_mode("users-value") == "READONLY"
    error = _error(client.register_schema, "users-value", Schema(USER_V2, "AVRO"))
    assert (error.http_status_code, error.error_code) == (422, 42205)
    assert client.delete_mode("users-value") == "READONLY"
    assert _error(client.get_mode, "users-value").error_code == 40409
    error = _error(client.update_global_mode, "IMPORT")
    assert error.error_code == 42205  # versions exist: IMPORT needs force
    assert client.update_global_mode("IMPORT", force=True) == "IMPORT"
    assert _error(client.update_global_mode, "UPSIDE_DOWN").error_code == 42204


def test_references_and_serializers_across_the_codec(client):
    """A Confluent serializer writes an Order whose EntityReference lives in another
    subject; the project's codec reads it, and Confluent's deserializer reads what the
    codec writes."""
    from apps.catalog.schema_registry.resolver import RegistrySchemaResolver

    client.register_schema("entity-reference", Schema(json.dumps(ENTITY_REFERENCE), "AVRO"))
    reference = SchemaReference("dictamesh.EntityReference", "entity-reference", 1)
    order = Schema(ORDER, "AVRO", references=[reference])
    order_id = client.register_schema("orders-value", order)
    fetched = client.get_schema(order_id)
    assert [(r.name, r.subject, r.version) for r in fetched.references] == [
        ("dictamesh.EntityReference", "entity-reference", 1)]
    assert client.lookup_schema("orders-value", order).schema_id == order_id
    assert client.get_referenced_by("entity-reference", 1) == [order_id]
    error = _error(client.delete_subject, "entity-reference")
    assert (error.http_status_code, error.error_code) == (422, 42206)

    record = {"number": 7, "customer": {"type": "customer", "id": "directus:42"}}
    context = SerializationContext("orders", MessageField.VALUE)
    data = AvroSerializer(client, order, conf={"auto.register.schemas": False,
                                               "use.latest.version": True})(record, context)
    codec = AvroCodec(RegistrySchemaResolver())
    decoded = codec.decode(data)
    assert (decoded.schema_id, decoded.record) == (order_id, record)

    user = {"id": "u-1", "email": "u@example.com"}
    ours = codec.encode("users-value", json.loads(USER_V2), user)
    assert AvroDeserializer(client)(ours, SerializationContext("users", MessageField.VALUE)) == user
