"""Fixtures of the catalog's admin tests."""

from __future__ import annotations

import pytest
from django.contrib.auth import get_user_model

from apps.tenancy.services import add_member
from tests.conftest import tenant_host


@pytest.fixture
def curator(client, settings, tenant_a):
    """A test client signed in as a curator member of tenant A, on its host."""
    settings.ALLOWED_HOSTS = [*settings.ALLOWED_HOSTS, ".testserver"]
    add_member(tenant_a.schema_name, "cora", "curator")
    client.force_login(get_user_model().objects.get(username="cora"))
    client.defaults["HTTP_HOST"] = tenant_host(tenant_a.schema_name)
    return client
