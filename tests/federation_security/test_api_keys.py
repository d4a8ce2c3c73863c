"""API keys: the plaintext is shown once, only a keyed hash is stored, revocation works."""

from __future__ import annotations

import io
from datetime import timedelta

import pytest
from django.core.management import CommandError, call_command
from django.db import connection
from django.utils import timezone

from apps.tenancy.api_keys import (
    ApiKeyError,
    create_api_key,
    expand_scopes,
    hash_secret,
    revoke_api_key,
    split_key,
    verify_api_key,
)
from apps.tenancy.models import ApiKey


def _rows_containing(text: str) -> list[str]:
    """Every public-schema table with a row whose text contains ``text``."""
    with connection.cursor() as cursor:
        cursor.execute("SELECT tablename FROM pg_tables WHERE schemaname = 'public'")
        tables = [row[0] for row in cursor.fetchall()]
        found = []
        for table in tables:
            cursor.execute(
                f'SELECT count(*) FROM public."{table}" t WHERE to_jsonb(t)::text LIKE %s',
                [f"%{text}%"])
            if cursor.fetchone()[0]:
                found.append(table)
    return found


def test_a_new_key_is_returned_once_and_only_its_hash_is_stored(tenant_a):
    key, plaintext = create_api_key(tenant_a.schema_name, "ci", ["read"])
    assert plaintext.startswith(f"dm_{tenant_a.schema_name}_{key.prefix}_")
    assert split_key(plaintext) is not None
    prefix, secret = split_key(plaintext) or ("", "")
    assert prefix == key.prefix
    assert len(secret) == 43
    stored = ApiKey.objects.get(pk=key.pk)
    assert stored.secret_hash == hash_secret(secret)
    assert secret not in stored.secret_hash
    assert _rows_containing(secret) == []
    # The prefix is public: the key's row, and the audit entry of its creation, name it.
    assert sorted(_rows_containing(key.prefix)) == ["tenancy_apikey", "tenancy_auditentry"]


def test_keys_are_unique_and_scopes_are_stored_expanded(tenant_a):
    first, one = create_api_key(tenant_a.schema_name, "a", ["write"])
    second, two = create_api_key(tenant_a.schema_name, "b", ["write"])
    assert one != two
    assert first.prefix != second.prefix
    assert sorted(first.scopes) == ["read", "write"]


def test_verify_accepts_the_key_and_refuses_altered_or_revoked_ones(tenant_a):
    key, plaintext = create_api_key(tenant_a.schema_name, "svc", ["admin"])
    verified = verify_api_key(plaintext)
    assert verified is not None
    assert (verified.key_id, verified.tenant, verified.name) == (
        key.pk, tenant_a.schema_name, "svc")
    assert verified.scopes == frozenset({"read", "write", "admin"})

    flipped = plaintext[:-1] + ("A" if plaintext[-1] != "A" else "B")
    assert verify_api_key(flipped) is None
    assert verify_api_key(plaintext + "x") is None
    assert verify_api_key("dm_nope") is None
    assert verify_api_key("") is None

    revoke_api_key(tenant_a.schema_name, key.prefix)
    assert verify_api_key(plaintext) is None


def test_revoking_an_unknown_key_says_how_to_find_the_prefix(tenant_a):
    with pytest.raises(ApiKeyError, match="prefix"):
        revoke_api_key(tenant_a.schema_name, "nosuchprefix")


def test_a_key_of_one_tenant_cannot_be_revoked_through_another(tenant_a, tenant_b):
    key, plaintext = create_api_key(tenant_a.schema_name, "svc", ["read"])
    with pytest.raises(ApiKeyError):
        revoke_api_key(tenant_b.schema_name, key.prefix)
    assert verify_api_key(plaintext) is not None


def test_last_used_is_written_at_most_once_a_minute(tenant_a):
    key, plaintext = create_api_key(tenant_a.schema_name, "svc", ["read"])
    assert key.last_used_at is None
    verify_api_key(plaintext)
    first = ApiKey.objects.get(pk=key.pk).last_used_at
    assert first is not None
    verify_api_key(plaintext)
    assert ApiKey.objects.get(pk=key.pk).last_used_at == first

    ApiKey.objects.filter(pk=key.pk).update(last_used_at=first - timedelta(minutes=2))
    verify_api_key(plaintext)
    touched = ApiKey.objects.get(pk=key.pk).last_used_at
    assert touched is not None
    assert first - timedelta(seconds=1) < touched <= timezone.now()


@pytest.mark.parametrize(
    ("scopes", "name", "message"),
    [([], "x", "scope"), (["root"], "x", "Unknown scope"), (["read"], " ", "name")],
)
def test_bad_key_requests_are_refused_clearly(tenant_a, scopes, name, message):
    with pytest.raises(ApiKeyError, match=message):
        create_api_key(tenant_a.schema_name, name, scopes)
    assert not ApiKey.objects.filter(tenant=tenant_a, name=name).exists()


def test_a_key_for_an_unknown_tenant_is_refused(db):
    with pytest.raises(ApiKeyError, match="onboard"):
        create_api_key("no_such_tenant", "x", ["read"])


def test_scope_hierarchy():
    assert expand_scopes(["read"]) == {"read"}
    assert expand_scopes(["write"]) == {"read", "write"}
    assert expand_scopes(["admin"]) == {"read", "write", "admin"}


def test_the_command_prints_the_key_once_with_a_warning(tenant_a):
    out = io.StringIO()
    call_command("create_api_key", tenant_a.schema_name, "--scope", "write",
                 "--name", "etl", stdout=out)
    text = out.getvalue()
    key = ApiKey.objects.get(tenant=tenant_a, name="etl")
    plaintext = next(word for word in text.split() if word.startswith("dm_"))
    assert text.count(plaintext) == 1
    assert "shown only this once" in text
    verified = verify_api_key(plaintext)
    assert verified is not None
    assert verified.key_id == key.pk
    assert verified.scopes == {"read", "write"}
    _, secret = split_key(plaintext) or ("", "")
    assert secret
    assert _rows_containing(secret) == []


def test_the_command_refuses_an_unknown_scope_and_tenant(tenant_a):
    with pytest.raises(CommandError):
        call_command("create_api_key", tenant_a.schema_name, "--scope", "root",
                     stdout=io.StringIO(), stderr=io.StringIO())
    with pytest.raises(CommandError, match="onboard"):
        call_command("create_api_key", "no_such_tenant", "--scope", "read",
                     stdout=io.StringIO())


def test_the_revoke_command(tenant_a):
    key, plaintext = create_api_key(tenant_a.schema_name, "old", ["read"])
    out = io.StringIO()
    call_command("revoke_api_key", tenant_a.schema_name, key.prefix, stdout=out)
    assert "Revoked" in out.getvalue()
    assert verify_api_key(plaintext) is None
