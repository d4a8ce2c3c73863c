"""Registry credentials are checked fast and failures are throttled."""

from __future__ import annotations

import pytest
from django.contrib.auth import get_user_model

from tests.schema_registry.conftest import PASSWORD, RegistryClient, basic_auth

pytestmark = pytest.mark.django_db


@pytest.fixture
def counted_hashes(settings, monkeypatch):
    """How many times a password is checked against its stored hash."""
    from django.contrib.auth.hashers import MD5PasswordHasher

    calls = []
    original = MD5PasswordHasher.verify

    def verify(self, password, encoded):
        calls.append(password)
        return original(self, password, encoded)

    monkeypatch.setattr(MD5PasswordHasher, "verify", verify)
    return calls


def test_a_verified_password_is_not_hashed_again(staff_user, counted_hashes):
    client = RegistryClient(basic_auth(staff_user.username))
    for _ in range(5):
        assert client.call("get", "subjects") == (200, [])
    assert len(counted_hashes) == 1


def test_a_changed_password_or_a_deactivated_user_stops_at_once(staff_user):
    client = RegistryClient(basic_auth(staff_user.username))
    assert client.call("get", "subjects")[0] == 200
    staff_user.set_password("a-new-password-2")
    staff_user.save()
    assert client.call("get", "subjects")[0] == 401
    renewed = RegistryClient(basic_auth(staff_user.username, "a-new-password-2"))
    assert renewed.call("get", "subjects")[0] == 200
    staff_user.is_active = False
    staff_user.save()
    assert renewed.call("get", "subjects")[0] == 401


def test_repeated_wrong_passwords_lock_the_account_out(staff_user, settings):
    settings.AXES_FAILURE_LIMIT = 3
    wrong = RegistryClient(basic_auth(staff_user.username, "guess"))
    statuses = [wrong.call("get", "subjects")[0] for _ in range(3)]
    assert statuses == [401, 401, 429]
    status, body = RegistryClient(basic_auth(staff_user.username)).call("get", "subjects")
    assert (status, body["error_code"]) == (429, 42901)  # even the right password, for now
    assert "Too many failed sign-ins" in body["message"]


def test_repeated_unknown_keys_lock_the_address_out(settings, tenant_a):
    settings.AXES_FAILURE_LIMIT = 3
    bogus = RegistryClient("Bearer dm_test_alpha_AAAAAAAAAAAA_" + "B" * 43)
    statuses = [bogus.call("get", "subjects")[0] for _ in range(4)]
    assert statuses == [401, 401, 429, 429]
    get_user_model().objects.create_user("late", password=PASSWORD)
    # The address is locked: a sign-in from it is refused whatever the credentials.
    assert RegistryClient(basic_auth("late")).call("get", "subjects")[0] == 429
