"""Requests are routed to a tenant's schema by host name."""

from __future__ import annotations

import pytest
from django.http import HttpResponse
from django.test import RequestFactory
from django_tenants.middleware.main import TenantMainMiddleware

from dictamesh.tenancy import current_schema
from tests.conftest import tenant_host


@pytest.fixture(autouse=True)
def _tenant_hosts_allowed(settings):
    settings.ALLOWED_HOSTS = [*settings.ALLOWED_HOSTS, ".testserver"]


def _schema_serving(host: str) -> str:
    middleware = TenantMainMiddleware(lambda request: HttpResponse(current_schema()))
    response = middleware(RequestFactory().get("/", HTTP_HOST=host))
    return response.content.decode()


def test_each_tenant_host_is_served_from_its_own_schema(tenant_a, tenant_b):
    assert _schema_serving(tenant_host(tenant_a.schema_name)) == tenant_a.schema_name
    assert _schema_serving(tenant_host(tenant_b.schema_name)) == tenant_b.schema_name


def test_an_unknown_host_is_served_from_the_public_schema(tenant_a):
    assert _schema_serving("unknown.testserver") == "public"
