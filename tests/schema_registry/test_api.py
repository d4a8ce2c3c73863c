"""The Confluent Schema Registry REST contract, through Django's test client."""

from __future__ import annotations

import json

import pytest

from tests.schema_registry.conftest import (
    CONTENT_TYPE,
    USER_V1,
    USER_V2,
    USER_V3_INCOMPATIBLE,
)

pytestmark = pytest.mark.django_db


def test_register_then_fetch_by_id_version_and_latest(api):
    status, body = api.register("users-value", USER_V1)
    assert status == 200
    first_id = body["id"]
    status, body = api.register("users-value", USER_V2)
    assert status == 200
    second_id = body["id"]
    assert second_id != first_id

    assert api.call("get", f"schemas/ids/{first_id}") == (200, {"schema": USER_V1})
    assert api.call("get", "subjects/users-value/versions/1") == (
        200, {"subject": "users-value", "version": 1, "id": first_id, "schema": USER_V1}
    )
    assert api.call("get", "subjects/users-value/versions/latest") == (
        200, {"subject": "users-value", "version": 2, "id": second_id, "schema": USER_V2}
    )
    assert api.call("get", "subjects/users-value/versions") == (200, [1, 2])
    assert api.call("get", "subjects") == (200, ["users-value"])
    assert api.call("get", f"schemas/ids/{second_id}/versions") == (
        200, [{"subject": "users-value", "version": 2}]
    )


def test_responses_use_the_registry_content_type(api):
    response = api.client.get("/schema-registry/subjects")
    assert response["Content-Type"] == CONTENT_TYPE


def test_version_schema_endpoint_returns_the_raw_schema(api):
    api.register("users-value", USER_V1)
    response = api.client.get("/schema-registry/subjects/users-value/versions/1/schema")
    assert response.status_code == 200
    assert response.content.decode() == USER_V1


def test_plain_json_content_type_is_accepted(api):
    response = api.client.post(
        "/schema-registry/subjects/users-value/versions",
        data=json.dumps({"schema": USER_V1}), content_type="application/json",
    )
    assert response.status_code == 200
    assert "id" in response.json()


def test_other_content_types_are_refused(api):
    response = api.client.post(
        "/schema-registry/subjects/users-value/versions",
        data=json.dumps({"schema": USER_V1}), content_type="text/plain",
    )
    assert response.status_code == 415
    assert response.json()["error_code"] == 415


def test_same_schema_under_two_subjects_shares_one_id(api):
    _, first = api.register("users-value", USER_V1)
    _, second = api.register("customers-value", USER_V1)
    assert first["id"] == second["id"]
    status, refs = api.call("get", f"schemas/ids/{first['id']}/versions")
    assert status == 200
    assert refs == [{"subject": "customers-value", "version": 1},
                    {"subject": "users-value", "version": 1}]


def test_re_registering_is_idempotent(api):
    _, first = api.register("users-value", USER_V1)
    # Same schema, other formatting: still the same schema.
    reformatted = json.dumps(json.loads(USER_V1), indent=4)
    _, again = api.register("users-value", reformatted)
    assert again == first
    assert api.call("get", "subjects/users-value/versions") == (200, [1])


def test_incompatible_schema_is_refused_with_409(api):
    api.register("users-value", USER_V1)
    api.register("users-value", USER_V2)
    status, body = api.register("users-value", USER_V3_INCOMPATIBLE)
    assert status == 409
    assert body["error_code"] == 409
    assert "BACKWARD" in body["message"]
    assert api.call("get", "subjects/users-value/versions") == (200, [1, 2])


@pytest.mark.parametrize("schema", [
    "not json",
    json.dumps({"type": "record", "name": "R", "fields": [{"name": "x", "type": "Nowhere"}]}),
    json.dumps({"type": "no-such-type"}),
])
def test_invalid_schema_is_refused_with_42201(api, schema):
    status, body = api.register("users-value", schema)
    assert status == 422
    assert body["error_code"] == 42201
    assert api.call("get", "subjects")[1] == []


@pytest.mark.parametrize("body", [{}, {"schema": ""}, {"schema": 12}])
def test_a_request_without_a_schema_is_refused_with_42201(api, body):
    status, answer = api.call("post", "subjects/users-value/versions", body)
    assert (status, answer["error_code"]) == (422, 42201)


def test_unsupported_schema_type_and_references_are_refused(api):
    status, body = api.call("post", "subjects/users-value/versions",
                            {"schema": USER_V1, "schemaType": "PROTOBUF"})
    assert (status, body["error_code"]) == (422, 42201)
    status, body = api.call("post", "subjects/users-value/versions", {
        "schema": USER_V1, "references": [{"name": "x", "subject": "y", "version": 1}],
    })
    assert (status, body["error_code"]) == (422, 42201)


def test_a_body_that_is_not_json_is_a_400(api):
    response = api.client.post("/schema-registry/subjects/users-value/versions",
                               data="{oops", content_type=CONTENT_TYPE)
    assert response.status_code == 400
    assert response.json()["error_code"] == 400


def test_not_found_codes(api):
    api.register("users-value", USER_V1)
    status, body = api.call("get", "subjects/nobody-value/versions")
    assert (status, body["error_code"]) == (404, 40401)
    status, body = api.call("get", "subjects/nobody-value/versions/1")
    assert (status, body["error_code"]) == (404, 40401)
    status, body = api.call("get", "subjects/users-value/versions/7")
    assert (status, body["error_code"]) == (404, 40402)
    status, body = api.call("get", "schemas/ids/987654")
    assert (status, body["error_code"]) == (404, 40403)
    status, body = api.call("get", "schemas/ids/987654/versions")
    assert (status, body["error_code"]) == (404, 40403)


@pytest.mark.parametrize("version", ["0", "abc", "2147483648", "1.5"])
def test_invalid_version_is_42202(api, version):
    api.register("users-value", USER_V1)
    status, body = api.call("get", f"subjects/users-value/versions/{version}")
    assert (status, body["error_code"]) == (422, 42202)


def test_lookup_finds_the_version_or_answers_40403(api):
    _, registered = api.register("users-value", USER_V1)
    api.register("users-value", USER_V2)
    status, body = api.call("post", "subjects/users-value", {"schema": USER_V1})
    assert (status, body) == (200, {"subject": "users-value", "version": 1,
                                    "id": registered["id"], "schema": USER_V1})
    status, body = api.call("post", "subjects/users-value", {"schema": USER_V3_INCOMPATIBLE})
    assert (status, body["error_code"]) == (404, 40403)
    status, body = api.call("post", "subjects/nobody", {"schema": USER_V1})
    assert (status, body["error_code"]) == (404, 40401)


def test_compatibility_check(api):
    api.register("users-value", USER_V1)
    api.register("users-value", USER_V2)
    path = "compatibility/subjects/users-value/versions/latest"
    assert api.call("post", path, {"schema": USER_V2}) == (200, {"is_compatible": True})
    status, body = api.call("post", path + "?verbose=true", {"schema": USER_V3_INCOMPATIBLE})
    assert status == 200
    assert body["is_compatible"] is False
    assert body["messages"]
    assert api.call("post", "compatibility/subjects/users-value/versions/1",
                    {"schema": USER_V2}) == (200, {"is_compatible": True})
    status, body = api.call("post", "compatibility/subjects/users-value/versions/9",
                            {"schema": USER_V2})
    assert (status, body["error_code"]) == (404, 40402)
    # A subject with no versions yet accepts anything.
    assert api.call("post", "compatibility/subjects/new-value/versions/latest",
                    {"schema": USER_V1}) == (200, {"is_compatible": True})


def test_global_config_get_and_put(api):
    assert api.call("get", "config") == (200, {"compatibilityLevel": "BACKWARD"})
    assert api.call("put", "config", {"compatibility": "full"}) == (
        200, {"compatibility": "FULL"}
    )
    assert api.call("get", "config") == (200, {"compatibilityLevel": "FULL"})


def test_subject_config_get_put_delete(api):
    api.register("users-value", USER_V1)
    status, body = api.call("get", "config/users-value")
    assert (status, body["error_code"]) == (404, 40408)
    assert api.call("get", "config/users-value?defaultToGlobal=true") == (
        200, {"compatibilityLevel": "BACKWARD"}
    )
    assert api.call("put", "config/users-value", {"compatibility": "NONE"}) == (
        200, {"compatibility": "NONE"}
    )
    assert api.call("get", "config/users-value") == (200, {"compatibilityLevel": "NONE"})
    # Under NONE, the otherwise incompatible schema is accepted.
    status, _ = api.register("users-value", USER_V3_INCOMPATIBLE)
    assert status == 200
    assert api.call("delete", "config/users-value") == (200, {"compatibilityLevel": "NONE"})
    status, body = api.call("delete", "config/users-value")
    assert (status, body["error_code"]) == (404, 40401)


@pytest.mark.parametrize("body", [{"compatibility": "SIDEWAYS"}, {}, {"compatibility": 3}])
def test_bad_compatibility_level_is_42203(api, body):
    status, answer = api.call("put", "config", body)
    assert (status, answer["error_code"]) == (422, 42203)
    status, answer = api.call("put", "config/users-value", body)
    assert (status, answer["error_code"]) == (422, 42203)
    assert api.call("get", "config") == (200, {"compatibilityLevel": "BACKWARD"})


def test_soft_then_permanent_version_delete(api):
    _, first = api.register("users-value", USER_V1)
    api.register("users-value", USER_V2)

    status, body = api.call("delete", "subjects/users-value/versions/1?permanent=true")
    assert (status, body["error_code"]) == (404, 40407)
    assert api.call("delete", "subjects/users-value/versions/1") == (200, 1)
    status, body = api.call("delete", "subjects/users-value/versions/1")
    assert (status, body["error_code"]) == (404, 40406)

    assert api.call("get", "subjects/users-value/versions") == (200, [2])
    assert api.call("get", "subjects/users-value/versions?deleted=true") == (200, [1, 2])
    status, body = api.call("get", "subjects/users-value/versions/1")
    assert (status, body["error_code"]) == (404, 40402)
    # Messages already on Kafka carry the id: it stays readable after a soft delete.
    assert api.call("get", f"schemas/ids/{first['id']}") == (200, {"schema": USER_V1})

    assert api.call("delete", "subjects/users-value/versions/1?permanent=true") == (200, 1)
    assert api.call("get", "subjects/users-value/versions?deleted=true") == (200, [2])
    status, body = api.call("get", f"schemas/ids/{first['id']}")
    assert (status, body["error_code"]) == (404, 40403)


def test_soft_then_permanent_subject_delete(api):
    api.register("users-value", USER_V1)
    api.register("users-value", USER_V2)
    api.call("put", "config/users-value", {"compatibility": "FULL"})

    status, body = api.call("delete", "subjects/users-value?permanent=true")
    assert (status, body["error_code"]) == (404, 40405)
    assert api.call("delete", "subjects/users-value") == (200, [1, 2])
    status, body = api.call("delete", "subjects/users-value")
    assert (status, body["error_code"]) == (404, 40404)
    assert api.call("get", "subjects") == (200, [])
    assert api.call("get", "subjects?deleted=true") == (200, ["users-value"])
    status, body = api.call("get", "subjects/users-value/versions")
    assert (status, body["error_code"]) == (404, 40401)

    assert api.call("delete", "subjects/users-value?permanent=true") == (200, [1, 2])
    assert api.call("get", "subjects?deleted=true") == (200, [])
    # The subject's own level went with it.
    status, body = api.call("get", "config/users-value")
    assert (status, body["error_code"]) == (404, 40408)
    status, body = api.call("delete", "subjects/users-value")
    assert (status, body["error_code"]) == (404, 40401)


def test_registering_after_a_soft_delete_continues_the_numbering(api):
    api.register("users-value", USER_V1)
    api.call("delete", "subjects/users-value")
    status, _ = api.register("users-value", USER_V1)
    assert status == 200
    assert api.call("get", "subjects/users-value/versions") == (200, [2])
    assert api.call("get", "subjects") == (200, ["users-value"])


def test_unknown_method_is_a_json_405(api):
    status, body = api.call("put", "subjects")
    assert (status, body["error_code"]) == (405, 405)


def test_a_primitive_key_schema_is_stored_as_registered(api):
    status, body = api.register("orders-key", '"string"')
    assert status == 200
    assert api.call("get", f"schemas/ids/{body['id']}") == (200, {"schema": '"string"'})


def test_compatibility_against_the_versions_the_level_names(api):
    api.register("users-value", USER_V1)
    api.register("users-value", USER_V2)
    path = "compatibility/subjects/users-value/versions"
    assert api.call("post", path, {"schema": USER_V2}) == (200, {"is_compatible": True})
    status, body = api.call("post", path + "?verbose=true", {"schema": USER_V3_INCOMPATIBLE})
    assert (status, body["is_compatible"]) == (200, False)
    assert "version 2" in body["messages"][0]
    # A subject without versions accepts anything; an unknown route stays JSON.
    assert api.call("post", "compatibility/subjects/new-value/versions",
                    {"schema": USER_V1}) == (200, {"is_compatible": True})


# Reads v2's data (which has "email") but not v1's (which lacks it, with no default).
USER_EMAIL_REQUIRED = json.dumps({
    "type": "record", "name": "User", "namespace": "dictamesh.test",
    "fields": [{"name": "id", "type": "string"}, {"name": "email", "type": "string"}],
})


@pytest.mark.parametrize("path", ["versions/latest", "versions"])
def test_transitive_level_checks_latest_against_every_version(api, path):
    """Confluent answers "compatible" against latest here (its issue #1681), then refuses to
    register the schema; this registry checks every version and says so."""
    assert api.call("put", "config/users-value", {"compatibility": "BACKWARD_TRANSITIVE"})[0] == 200
    api.register("users-value", USER_V1)
    api.register("users-value", USER_V2)
    base = f"compatibility/subjects/users-value/{path}"
    status, body = api.call("post", base + "?verbose=true", {"schema": USER_EMAIL_REQUIRED})
    assert (status, body["is_compatible"]) == (200, False)
    assert "BACKWARD_TRANSITIVE is transitive" in body["messages"][0]
    assert "every live version (1, 2)" in body["messages"][0]
    assert any("version 1" in message and "'email' has no default" in message
               for message in body["messages"][1:])
    assert not any("version 2" in message for message in body["messages"][1:])
    status, body = api.register("users-value", USER_EMAIL_REQUIRED)
    assert (status, body["error_code"]) == (409, 409)
    # Against version 2 alone, the same schema is compatible.
    assert api.call("post", "compatibility/subjects/users-value/versions/2",
                    {"schema": USER_EMAIL_REQUIRED}) == (200, {"is_compatible": True})
