"""The admin's superusers live in the public schema, whatever schema is active."""

from __future__ import annotations

from django.contrib.auth import get_user_model
from django_tenants.utils import schema_context

from apps.tenancy.services import ensure_superuser
from dictamesh.tenancy import current_schema


def test_a_superuser_is_created_in_the_public_schema_from_a_tenant(tenant_a):
    with schema_context(tenant_a.schema_name):
        assert ensure_superuser("ops", "first-password") is True
        assert current_schema() == tenant_a.schema_name

    user = get_user_model().objects.get(username="ops")
    assert user.is_superuser
    assert user.is_staff
    assert user.is_active
    assert user.check_password("first-password")


def test_an_existing_user_is_left_as_it_is(db):
    users = get_user_model()
    users.objects.create_user("ops", "", "kept-password")

    assert ensure_superuser("ops", "other-password") is False

    user = users.objects.get(username="ops")
    assert user.check_password("kept-password")
    assert not user.is_superuser
