"""Users, clients and schemas for the schema registry tests."""

from __future__ import annotations

import base64
import json
from typing import Any

import pytest
from django.test import Client

CONTENT_TYPE = "application/vnd.schemaregistry.v1+json"
PASSWORD = "correct-horse-battery"  # noqa: S105 - a test user's password

USER_V1 = json.dumps({
    "type": "record", "name": "User", "namespace": "dictamesh.test",
    "fields": [{"name": "id", "type": "string"}],
})
# Adds a field with a default: readers of v2 can read v1 data (BACKWARD compatible).
USER_V2 = json.dumps({
    "type": "record", "name": "User", "namespace": "dictamesh.test",
    "fields": [{"name": "id", "type": "string"},
               {"name": "email", "type": "string", "default": ""}],
})
# Adds a field without a default: v3 readers cannot read v2 data (BACKWARD incompatible).
USER_V3_INCOMPATIBLE = json.dumps({
    "type": "record", "name": "User", "namespace": "dictamesh.test",
    "fields": [{"name": "id", "type": "string"},
               {"name": "email", "type": "string", "default": ""},
               {"name": "age", "type": "int"}],
})


@pytest.fixture(autouse=True)
def _fast_password_hashing(settings):
    # Basic auth checks the password on every request; PBKDF2 would dominate test time.
    settings.PASSWORD_HASHERS = ["django.contrib.auth.hashers.MD5PasswordHasher"]


def basic_auth(username: str, password: str = PASSWORD) -> str:
    return "Basic " + base64.b64encode(f"{username}:{password}".encode()).decode()


@pytest.fixture(autouse=True)
def _forget_verified_passwords():
    from apps.catalog.schema_registry.auth import forget_verified_passwords

    forget_verified_passwords()
    yield
    forget_verified_passwords()


@pytest.fixture
def staff_user(django_user_model):
    """A platform admin (the platform role, not a superuser): it changes any subject."""
    from django.contrib.auth.models import Permission

    user = django_user_model.objects.create_user("curator", password=PASSWORD, is_staff=True)
    user.user_permissions.add(Permission.objects.get(codename="platform_admin"))
    return user


@pytest.fixture
def reader_user(django_user_model):
    return django_user_model.objects.create_user("reader", password=PASSWORD)


class RegistryClient:
    """Django's test client speaking the registry's JSON, with Basic credentials."""

    def __init__(self, authorization: str | None = None, host: str = "testserver") -> None:
        headers = {"Authorization": authorization} if authorization else {}
        self.client = Client(headers=headers, HTTP_HOST=host)

    def call(self, method: str, path: str, body: Any = None) -> tuple[int, Any]:
        data = json.dumps(body) if body is not None else ""
        response = getattr(self.client, method)(
            f"/schema-registry/{path}", data=data, content_type=CONTENT_TYPE
        )
        payload = json.loads(response.content) if response.content else None
        return response.status_code, payload

    def register(self, subject: str, schema: str) -> tuple[int, Any]:
        return self.call("post", f"subjects/{subject}/versions", {"schema": schema})


@pytest.fixture
def api(staff_user) -> RegistryClient:
    return RegistryClient(basic_auth(staff_user.username))


@pytest.fixture
def reader_api(reader_user) -> RegistryClient:
    return RegistryClient(basic_auth(reader_user.username))
