"""authenticate(): the key must be valid, unrevoked, and used on its own tenant's host."""

from __future__ import annotations

import pytest

from apps.federation.auth import AuthError, Principal, authenticate, require_scope
from apps.tenancy.api_keys import create_api_key, revoke_api_key
from tests.conftest import tenant_host


def _bearer(key: str) -> dict[str, str]:
    return {"HTTP_AUTHORIZATION": f"Bearer {key}"}


def test_a_valid_key_on_its_tenants_host_authenticates(tenant_a, routed):
    key, plaintext = create_api_key(tenant_a.schema_name, "web", ["write"])
    principal = routed(tenant_host(tenant_a.schema_name), authenticate, **_bearer(plaintext))
    assert principal == Principal(key_id=key.pk, tenant=tenant_a.schema_name,
                                  scopes=frozenset({"read", "write"}), name="web")


def test_the_bearer_scheme_is_case_insensitive(tenant_a, routed):
    _, plaintext = create_api_key(tenant_a.schema_name, "web", ["read"])
    principal = routed(tenant_host(tenant_a.schema_name), authenticate,
                       HTTP_AUTHORIZATION=f"bearer {plaintext}")
    assert principal.tenant == tenant_a.schema_name


@pytest.mark.parametrize(
    "headers",
    [
        {},
        {"HTTP_AUTHORIZATION": ""},
        {"HTTP_AUTHORIZATION": "Bearer"},
        {"HTTP_AUTHORIZATION": "Basic dXNlcjpwYXNz"},
        {"HTTP_AUTHORIZATION": "Bearer " + "x" * 2000},
        {"HTTP_AUTHORIZATION": "Bearer dm_test_alpha_AAAAAAAAAAAA_" + "B" * 43},
        {"HTTP_AUTHORIZATION": "Bearer not-a-key"},
    ],
    ids=["missing", "empty", "no-token", "basic", "huge", "unknown", "garbage"],
)
def test_missing_malformed_or_unknown_keys_get_401(tenant_a, routed, headers):
    with pytest.raises(AuthError) as caught:
        routed(tenant_host(tenant_a.schema_name), authenticate, **headers)
    error = caught.value
    assert (error.status, error.code) == (401, "UNAUTHENTICATED")
    assert "Authorization: Bearer" in error.message
    assert error.headers["WWW-Authenticate"].startswith("Bearer")


def test_a_revoked_key_gets_401(tenant_a, routed):
    key, plaintext = create_api_key(tenant_a.schema_name, "gone", ["admin"])
    revoke_api_key(tenant_a.schema_name, key.prefix)
    with pytest.raises(AuthError) as caught:
        routed(tenant_host(tenant_a.schema_name), authenticate, **_bearer(plaintext))
    assert (caught.value.status, caught.value.code) == (401, "UNAUTHENTICATED")
    assert "revoked" in caught.value.message


def test_a_key_on_another_tenants_host_gets_403(tenant_a, tenant_b, routed):
    _, plaintext = create_api_key(tenant_a.schema_name, "web", ["admin"])
    with pytest.raises(AuthError) as caught:
        routed(tenant_host(tenant_b.schema_name), authenticate, **_bearer(plaintext))
    assert (caught.value.status, caught.value.code) == (403, "FORBIDDEN")
    assert tenant_b.schema_name not in caught.value.message  # tells nothing of tenant B


def test_a_key_on_the_public_host_gets_403(tenant_a, routed):
    _, plaintext = create_api_key(tenant_a.schema_name, "web", ["admin"])
    with pytest.raises(AuthError) as caught:
        routed("unknown.testserver", authenticate, **_bearer(plaintext))
    assert (caught.value.status, caught.value.code) == (403, "FORBIDDEN")
    assert "tenant's host" in caught.value.message


@pytest.mark.parametrize(
    ("granted", "allowed", "refused"),
    [
        ({"read"}, {"read"}, {"write", "admin"}),
        ({"read", "write"}, {"read", "write"}, {"admin"}),
        ({"read", "write", "admin"}, {"read", "write", "admin"}, set()),
    ],
    ids=["read", "write", "admin"],
)
def test_scopes_form_a_hierarchy(granted, allowed, refused):
    principal = Principal(key_id=1, tenant="t", scopes=frozenset(granted), name="k")
    for scope in allowed:
        require_scope(principal, scope)
    for scope in refused:
        with pytest.raises(AuthError) as caught:
            require_scope(principal, scope)
        assert (caught.value.status, caught.value.code) == (403, "INSUFFICIENT_SCOPE")
        assert f"--scope {scope}" in caught.value.message
        assert "insufficient_scope" in caught.value.headers["WWW-Authenticate"]


def test_a_key_created_with_a_scope_gets_the_scopes_it_implies(tenant_a, routed):
    _, plaintext = create_api_key(tenant_a.schema_name, "w", ["write"])
    principal = routed(tenant_host(tenant_a.schema_name), authenticate, **_bearer(plaintext))
    require_scope(principal, "read")
    require_scope(principal, "write")
    with pytest.raises(AuthError):
        require_scope(principal, "admin")


def test_an_unknown_scope_is_a_programming_error():
    principal = Principal(key_id=1, tenant="t", scopes=frozenset({"admin"}), name="k")
    with pytest.raises(ValueError, match="Unknown scope"):
        require_scope(principal, "superuser")
