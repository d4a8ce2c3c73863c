"""HTTP Basic against Django users: active users read, staff users write."""

from __future__ import annotations

import pytest

from tests.schema_registry.conftest import USER_V1, RegistryClient, basic_auth

pytestmark = pytest.mark.django_db


def test_a_non_staff_user_can_read(api, reader_api):
    _, registered = api.register("users-value", USER_V1)
    assert reader_api.call("get", "subjects") == (200, ["users-value"])
    assert reader_api.call("get", f"schemas/ids/{registered['id']}") == (200, {"schema": USER_V1})
    # Lookups and compatibility checks are POSTs, but they change nothing: reads.
    status, _ = reader_api.call("post", "subjects/users-value", {"schema": USER_V1})
    assert status == 200
    status, _ = reader_api.call(
        "post", "compatibility/subjects/users-value/versions/latest", {"schema": USER_V1}
    )
    assert status == 200


@pytest.mark.parametrize(("method", "path", "body"), [
    ("post", "subjects/users-value/versions", {"schema": USER_V1}),
    ("put", "config", {"compatibility": "NONE"}),
    ("put", "config/users-value", {"compatibility": "NONE"}),
    ("delete", "config/users-value", None),
    ("delete", "subjects/users-value", None),
    ("delete", "subjects/users-value/versions/1", None),
])
def test_a_non_staff_user_cannot_write(api, reader_api, method, path, body):
    api.register("users-value", USER_V1)
    api.call("put", "config/users-value", {"compatibility": "FULL"})
    status, answer = reader_api.call(method, path, body)
    assert (status, answer["error_code"]) == (403, 40301)
    assert api.call("get", "subjects/users-value/versions") == (200, [1])
    assert api.call("get", "config/users-value") == (200, {"compatibilityLevel": "FULL"})


@pytest.mark.parametrize("authorization", [
    None,
    basic_auth("curator", "wrong-password"),
    basic_auth("nobody"),
    "Basic not-base64!",
    "Bearer some-token",
])
def test_missing_or_bad_credentials_are_401(staff_user, authorization):
    response = RegistryClient(authorization).client.get("/schema-registry/subjects")
    assert response.status_code == 401
    assert response.json()["error_code"] == 40101
    assert response["WWW-Authenticate"].startswith("Basic ")


def test_an_inactive_user_is_401(staff_user):
    staff_user.is_active = False
    staff_user.save()
    status, body = RegistryClient(basic_auth("curator")).call("get", "subjects")
    assert (status, body["error_code"]) == (401, 40101)
