"""What the probes and metrics show to whom: the public /readyz only the platform's
dependencies, a tenant's source health only its admins, /metrics only the public host."""

from __future__ import annotations

import pytest
from django.contrib.auth import get_user_model
from django.test import Client
from django_tenants.utils import schema_context

from apps.adapters.models import SourceConnection
from apps.tenancy.services import add_member, create_api_key
from dictamesh.health.redact import redact_userinfo
from tests.conftest import tenant_host

SECRET = "s3cr3t-pass"  # noqa: S105 - the credential that must never be shown
HEALTH = "/sources/health"


@pytest.fixture(autouse=True)
def _tenant_hosts_allowed(settings):
    settings.ALLOWED_HOSTS = [*settings.ALLOWED_HOSTS, ".testserver"]
    settings.HEALTH_CHECK_TIMEOUT_SECONDS = 30


@pytest.fixture
def source_of_a(tenant_a):
    with schema_context(tenant_a.schema_name):
        return SourceConnection.objects.create(
            name="customers", adapter="directus",
            base_url=f"http://svc:{SECRET}@directus.internal:8055", health_state="down",
            health_detail=f"ConnectionError: GET http://svc:{SECRET}@directus.internal:8055/x")


def _member_client(tenant, username: str, role: str, host: str) -> Client:
    add_member(tenant.schema_name, username, role)
    client = Client(HTTP_HOST=host)
    client.force_login(get_user_model().objects.get(username=username))
    return client


@pytest.mark.parametrize("text", [
    f"http://svc:{SECRET}@h:1/x", f"redis://:{SECRET}@h:6379/0",
    f"error at postgres://u:{SECRET}@db/x, retrying",
])
def test_user_info_is_redacted(text):
    assert SECRET not in redact_userinfo(text)
    assert "***@" in redact_userinfo(text)


@pytest.mark.django_db
def test_readyz_shows_no_tenant_and_no_source(client, source_of_a, tenant_a, kafka_bootstrap):
    body = client.get("/readyz").content.decode()
    assert SECRET not in body
    assert tenant_a.schema_name not in body
    assert "customers" not in body
    assert set(client.get("/readyz").json()) == {"status", "failed", "checks"}


def test_a_tenant_admin_sees_its_sources_without_credentials(tenant_a, source_of_a):
    host = tenant_host(tenant_a.schema_name)
    response = _member_client(tenant_a, "ann", "admin", host).get(HEALTH)
    assert response.status_code == 200
    body = response.json()
    assert body["tenant"] == tenant_a.schema_name
    source = body["sources"]["customers"]
    assert source["state"] == "down"
    assert source["base_url"] == "http://***@directus.internal:8055"
    assert SECRET not in response.content.decode()


def test_source_health_is_refused_to_others(tenant_a, tenant_b, source_of_a):
    host_a = tenant_host(tenant_a.schema_name)
    assert Client(HTTP_HOST=host_a).get(HEALTH).status_code == 401
    assert _member_client(tenant_a, "vic", "viewer", host_a).get(HEALTH).status_code == 403
    admin_of_b = _member_client(tenant_b, "bob", "admin", tenant_host(tenant_b.schema_name))
    assert admin_of_b.get(HEALTH, HTTP_HOST=host_a).status_code == 403
    assert Client().get(HEALTH).status_code == 404  # the public host has no sources


def test_source_health_with_an_admin_key(tenant_a, tenant_b, source_of_a):
    _, admin_key = create_api_key(tenant_a.schema_name, "ops", ["admin"])
    _, read_key = create_api_key(tenant_a.schema_name, "app", ["read"])
    host_a, host_b = tenant_host(tenant_a.schema_name), tenant_host(tenant_b.schema_name)
    bearer = f"Bearer {admin_key}"
    assert Client(HTTP_HOST=host_a).get(HEALTH, HTTP_AUTHORIZATION=bearer).status_code == 200
    assert Client(HTTP_HOST=host_b).get(HEALTH, HTTP_AUTHORIZATION=bearer).status_code == 403
    assert Client(HTTP_HOST=host_a).get(
        HEALTH, HTTP_AUTHORIZATION=f"Bearer {read_key}").status_code == 403


def test_metrics_are_not_served_on_a_tenant_host(tenant_a):
    response = Client(HTTP_HOST=tenant_host(tenant_a.schema_name)).get("/metrics")
    assert response.status_code == 404
    assert b"django_http_requests" not in response.content
    assert Client().get("/metrics").status_code == 200


@pytest.mark.django_db
def test_metrics_behind_a_bearer_token(settings):
    settings.METRICS_BEARER_TOKEN = "scrape-token-1"  # noqa: S105
    assert Client().get("/metrics").status_code == 401
    assert Client().get("/metrics", HTTP_AUTHORIZATION="Bearer wrong").status_code == 401
    answered = Client().get("/metrics", HTTP_AUTHORIZATION="Bearer scrape-token-1")
    assert answered.status_code == 200
    assert b"# TYPE" in answered.content
