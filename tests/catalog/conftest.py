"""Fixtures of the catalog's admin tests."""

from __future__ import annotations

from collections.abc import Callable

import pytest
from django.contrib.auth import get_user_model
from django.test import Client

from apps.tenancy.services import add_member
from tests.conftest import tenant_host


@pytest.fixture
def member_of_a(client, settings, tenant_a) -> Callable[[str, str], Client]:
    """Signs the test client in as a new member of tenant A with a role, on its host."""
    settings.ALLOWED_HOSTS = [*settings.ALLOWED_HOSTS, ".testserver"]

    def signed_in(username: str, role: str) -> Client:
        add_member(tenant_a.schema_name, username, role)
        client.force_login(get_user_model().objects.get(username=username))
        client.defaults["HTTP_HOST"] = tenant_host(tenant_a.schema_name)
        return client

    return signed_in


@pytest.fixture
def curator(member_of_a) -> Client:
    """The test client signed in as a curator of tenant A, on its host."""
    return member_of_a("cora", "curator")
