"""Bad requests to the registry get Confluent-style JSON errors (``error_code`` and
``message``), never Django's HTML pages or a 500."""

from __future__ import annotations

import json

import pytest

from tests.schema_registry.conftest import CONTENT_TYPE, USER_V1, RegistryClient


def _json_error(response, status: int) -> dict:
    assert response.status_code == status, response.content[:300]
    assert response["Content-Type"] == CONTENT_TYPE
    body = json.loads(response.content)
    assert set(body) == {"error_code", "message"}
    return body


@pytest.mark.parametrize("path", ["schemas/ids/x", "schemas/ids/-1", "schemas/ids/0",
                                  "schemas/ids/１", "schemas/ids/99999999999999999999",
                                  "schemas/ids/x/versions"])
def test_a_schema_id_that_is_no_integer_is_a_json_40403(api: RegistryClient, path):
    body = _json_error(api.client.get(f"/schema-registry/{path}"), 404)
    assert body["error_code"] == 40403


def test_an_unknown_registry_path_is_a_json_404(api: RegistryClient):
    body = _json_error(api.client.get("/schema-registry/no/such/endpoint"), 404)
    assert body["error_code"] == 404


def test_a_body_nested_100000_deep_is_a_json_400(api: RegistryClient):
    response = api.client.post("/schema-registry/subjects/deep/versions",
                               data=b"[" * 100_000 + b"]" * 100_000, content_type=CONTENT_TYPE)
    body = _json_error(response, 400)
    assert "nests deeper" in body["message"]


def test_a_schema_nested_past_the_recursion_limit_is_42201(api: RegistryClient):
    schema = '{"type": "array", "items": ' * 5000 + '"int"' + "}" * 5000
    status, body = api.call("post", "subjects/deep/versions", {"schema": schema})
    assert (status, body["error_code"]) == (422, 42201)


def test_a_body_over_the_upload_limit_is_a_json_413(api: RegistryClient, settings):
    settings.DATA_UPLOAD_MAX_MEMORY_SIZE = 1000
    response = api.client.post("/schema-registry/subjects/big/versions",
                               data=json.dumps({"schema": USER_V1, "pad": "x" * 2000}),
                               content_type=CONTENT_TYPE)
    body = _json_error(response, 413)
    assert "1000 bytes" in body["message"]


def test_a_euro_sign_in_a_subject_path_is_a_json_40401(api: RegistryClient):
    # the tracing middleware used to raise UnicodeEncodeError on this path (a 500)
    body = _json_error(api.client.get("/schema-registry/subjects/%E2%82%AC/versions"), 404)
    assert body["error_code"] == 40401


@pytest.mark.parametrize("path", ["/schema-registry", "/schema-registry/",
                                  "/schema-registry/subjects/", "/schema-registry/contexts/",
                                  "/schema-registry/mode/a/b", "/schema-registry/schemas/ids/"])
def test_every_unknown_path_under_the_registry_is_a_json_404(api: RegistryClient, path):
    # "/schema-registry" is redirected to "/schema-registry/" first (APPEND_SLASH).
    body = _json_error(api.client.get(path, follow=True), 404)
    assert body["error_code"] == 404


@pytest.mark.parametrize("path", ["mode", "mode/users-value", "contexts",
                                  "compatibility/subjects/users-value/versions",
                                  "subjects/users-value/versions/1/referencedby"])
def test_an_unsupported_method_is_a_json_405(api: RegistryClient, path):
    body = _json_error(api.client.patch(f"/schema-registry/{path}"), 405)
    assert body["error_code"] == 405


def test_an_unexpected_failure_is_a_logged_json_50001(api: RegistryClient, monkeypatch, caplog):
    # A bug cannot be provoked through the API (that would be a bug to fix), so one is
    # planted: the client must still get JSON its registry client parses.
    from apps.catalog.schema_registry import services

    def broken(*args: object, **kwargs: object) -> str:
        raise RuntimeError("planted")

    monkeypatch.setattr(services, "get_mode", broken)
    body = _json_error(api.client.get("/schema-registry/mode"), 500)
    assert body["error_code"] == 50001
    assert "planted" in caplog.text
