"""Modes (READWRITE, READONLY, IMPORT), contexts and the schema-by-id endpoints."""

from __future__ import annotations

import json

import pytest

from tests.schema_registry.conftest import (
    USER_V1,
    USER_V2,
    USER_V3_INCOMPATIBLE,
)

pytestmark = pytest.mark.django_db


def test_global_and_subject_modes(api):
    assert api.call("get", "mode") == (200, {"mode": "READWRITE"})
    status, body = api.call("get", "mode/users-value")
    assert (status, body["error_code"]) == (404, 40409)
    assert "defaultToGlobal=true" in body["message"]
    assert api.call("get", "mode/users-value?defaultToGlobal=true") == (200, {"mode": "READWRITE"})
    assert api.call("put", "mode/users-value", {"mode": "readonly"}) == (200, {"mode": "READONLY"})
    assert api.call("get", "mode/users-value") == (200, {"mode": "READONLY"})
    assert api.call("delete", "mode/users-value") == (200, {"mode": "READONLY"})
    status, body = api.call("delete", "mode/users-value")
    assert (status, body["error_code"]) == (404, 40401)
    for bad in ({"mode": "SIDEWAYS"}, {"mode": 3}, {}):
        status, body = api.call("put", "mode", bad)
        assert (status, body["error_code"]) == (422, 42204)
        assert "READWRITE, READONLY, IMPORT" in body["message"]


def test_read_only_refuses_registrations_and_deletions(api):
    api.register("users-value", USER_V1)
    api.call("put", "mode/users-value", {"mode": "READONLY"})
    for method, path, body in (("post", "subjects/users-value/versions", {"schema": USER_V2}),
                               ("delete", "subjects/users-value/versions/1", None),
                               ("delete", "subjects/users-value", None)):
        status, answer = api.call(method, path, body)
        assert (status, answer["error_code"]) == (422, 42205), (path, answer)
        assert "read-only" in answer["message"]
    # Reads still work; the global READONLY applies to subjects without their own mode.
    assert api.call("get", "subjects/users-value/versions") == (200, [1])
    api.call("delete", "mode/users-value")
    api.call("put", "mode", {"mode": "READONLY"})
    assert api.register("users-value", USER_V2)[1]["error_code"] == 42205
    api.call("put", "mode/users-value", {"mode": "READWRITE"})
    assert api.register("users-value", USER_V2)[0] == 200


def _user_schema(name: str) -> str:
    return json.dumps({"type": "record", "name": name, "fields": [{"name": "id", "type": "long"}]})


def test_import_keeps_ids_and_versions_without_compatibility(api):
    # The ids the sequence gives next (sequences outlive test transactions).
    base = api.register("seed-value", _user_schema("Seed"))[1]["id"] + 1
    # Ids belong to imports only.
    status, body = api.call("post", "subjects/users-value/versions",
                            {"schema": USER_V1, "id": base})
    assert (status, body["error_code"]) == (422, 42205)
    assert "IMPORT" in body["message"]
    assert api.call("put", "mode/users-value", {"mode": "IMPORT"}) == (200, {"mode": "IMPORT"})
    assert api.call("post", "subjects/users-value/versions",
                    {"schema": USER_V1, "id": base, "version": 3}) == (200, {"id": base})
    # No compatibility check in IMPORT mode: another registry accepted these already.
    assert api.call("post", "subjects/users-value/versions",
                    {"schema": USER_V3_INCOMPATIBLE, "id": base + 1, "version": 5}) == (
        200, {"id": base + 1})
    assert api.call("get", "subjects/users-value/versions") == (200, [3, 5])
    assert api.call("get", "subjects/users-value/versions/3")[1]["id"] == base
    # An id is one schema's: neither overwritten nor changed; a version is not reused.
    for body, code in (({"schema": USER_V2, "id": base}, 42205),
                       ({"schema": USER_V1, "id": base + 2}, 42207),
                       ({"schema": USER_V2, "id": base + 3, "version": 5}, 42205),
                       ({"schema": USER_V2, "id": "7"}, 42201),
                       ({"schema": USER_V2, "id": 2**31}, 42201)):
        status, answer = api.call("post", "subjects/users-value/versions", body)
        assert (status, answer["error_code"]) == (422, code), (body, answer)
    # The highest id there is may be imported: new schemas skip the imported ids.
    assert api.call("post", "subjects/users-value/versions",
                    {"schema": USER_V2, "id": 2**31 - 1}) == (200, {"id": 2**31 - 1})
    assert api.register("fresh-value", _user_schema("Fresh")) == (200, {"id": base + 2})
    assert api.register("fresher-value", _user_schema("Fresher"))[1]["id"] < 2**31 - 1
    # Setting IMPORT where versions exist needs force.
    status, body = api.call("put", "mode", {"mode": "IMPORT"})
    assert (status, body["error_code"]) == (422, 42205)
    assert "force=true" in body["message"]
    assert api.call("put", "mode?force=true", {"mode": "IMPORT"}) == (200, {"mode": "IMPORT"})


def test_contexts_and_schema_by_id_endpoints(api, reader_api):
    assert reader_api.call("get", "contexts") == (200, ["."])
    schema_id = api.register("users-value", USER_V1)[1]["id"]
    api.register("orders-value", USER_V1)
    response = reader_api.client.get(f"/schema-registry/schemas/ids/{schema_id}/schema")
    assert (response.status_code, json.loads(response.content)) == (200, json.loads(USER_V1))
    assert reader_api.call("get", f"schemas/ids/{schema_id}/subjects") == (
        200, ["orders-value", "users-value"])
    api.call("delete", "subjects/orders-value")
    assert reader_api.call("get", f"schemas/ids/{schema_id}/subjects") == (200, ["users-value"])
    assert reader_api.call("get", f"schemas/ids/{schema_id}/subjects?deleted=true") == (
        200, ["orders-value", "users-value"])
    for path in ("schemas/ids/999/schema", "schemas/ids/x/schema", "schemas/ids/999/subjects"):
        status, body = reader_api.call("get", path)
        assert (status, body["error_code"]) == (404, 40403), path
