"""An API key is bound to its tenant (the tenant segment of the key must be its own) and
may expire: an expired key is a 401 that says so."""

from __future__ import annotations

import io
from datetime import timedelta

import pytest
from django.core.management import CommandError, call_command
from django.utils import timezone

from apps.federation.auth import AuthError, authenticate
from apps.tenancy.api_keys import ApiKeyError, create_api_key, verify_api_key
from apps.tenancy.models import ApiKey
from tests.conftest import tenant_host


def _bearer(plaintext: str) -> dict[str, str]:
    return {"HTTP_AUTHORIZATION": f"Bearer {plaintext}"}


def test_a_key_whose_tenant_segment_was_changed_is_refused(tenant_a, tenant_b, routed):
    _, plaintext = create_api_key(tenant_a.schema_name, "ci", ["read"])
    assert verify_api_key(plaintext) is not None
    relabelled = plaintext.replace(f"dm_{tenant_a.schema_name}_",
                                   f"dm_{tenant_b.schema_name}_", 1)
    assert verify_api_key(relabelled) is None
    with pytest.raises(AuthError) as refused:
        routed(tenant_host(tenant_a.schema_name), authenticate, **_bearer(relabelled))
    assert refused.value.status == 401


def test_an_expired_key_is_a_401_saying_it_expired(tenant_a, routed):
    key, plaintext = create_api_key(tenant_a.schema_name, "ci", ["read"],
                                    expires_at=timezone.now() + timedelta(hours=1))
    principal = routed(tenant_host(tenant_a.schema_name), authenticate, **_bearer(plaintext))
    assert principal.key_id == key.pk
    ApiKey.objects.filter(pk=key.pk).update(expires_at=timezone.now() - timedelta(seconds=1))
    with pytest.raises(AuthError) as refused:
        routed(tenant_host(tenant_a.schema_name), authenticate, **_bearer(plaintext))
    assert refused.value.status == 401
    assert refused.value.code == "UNAUTHENTICATED"
    assert "expired at" in refused.value.message
    assert verify_api_key(plaintext) is None


def test_a_revoked_expired_key_says_revoked_not_expired(tenant_a, routed):
    key, plaintext = create_api_key(tenant_a.schema_name, "ci", ["read"],
                                    expires_at=timezone.now() + timedelta(hours=1))
    ApiKey.objects.filter(pk=key.pk).update(expires_at=timezone.now() - timedelta(seconds=1),
                                            revoked_at=timezone.now())
    with pytest.raises(AuthError) as refused:
        routed(tenant_host(tenant_a.schema_name), authenticate, **_bearer(plaintext))
    assert "expired" not in refused.value.message


def test_an_expiry_in_the_past_is_refused_at_creation(tenant_a):
    with pytest.raises(ApiKeyError, match="already past"):
        create_api_key(tenant_a.schema_name, "ci", ["read"],
                       expires_at=timezone.now() - timedelta(minutes=1))


def test_create_api_key_takes_an_expiry_in_days(tenant_a):
    out = io.StringIO()
    call_command("create_api_key", tenant_a.schema_name, "--scope", "read",
                 "--expires-in-days", "30", stdout=out)
    key = ApiKey.objects.filter(tenant=tenant_a).latest("created_at")
    assert key.expires_at is not None
    remaining = key.expires_at - timezone.now()
    assert timedelta(days=29) < remaining <= timedelta(days=30)
    assert "expires at" in out.getvalue()


@pytest.mark.parametrize("days", ["0", "-3", "soon", "99999"])
def test_create_api_key_refuses_a_meaningless_expiry(tenant_a, days):
    with pytest.raises(CommandError, match="number of days"):
        call_command("create_api_key", tenant_a.schema_name, "--scope", "read",
                     "--expires-in-days", days, stdout=io.StringIO(), stderr=io.StringIO())


def test_keys_without_expiry_keep_working(tenant_a):
    key, plaintext = create_api_key(tenant_a.schema_name, "ci", ["read"])
    assert key.expires_at is None
    assert verify_api_key(plaintext) is not None
