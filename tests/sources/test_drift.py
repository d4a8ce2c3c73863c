"""A drifted source (a Directus collection without `status`) shows DEGRADED with the field
it lacks: in the connection's health, in the admin, and as a count of malformed records."""

from __future__ import annotations

from django.contrib.auth import get_user_model
from django.test import Client
from django_tenants.utils import schema_context
from prometheus_client import REGISTRY

from apps.adapters import services
from apps.adapters.base import HealthState
from apps.adapters.changes import poll
from apps.adapters.models import SourceConnection
from tests.conftest import tenant_host
from tests.sources.conftest import control


def _malformed_count(tenant: str, connection: str) -> float:
    value = REGISTRY.get_sample_value("dictamesh_source_malformed_records_total", {
        "tenant": tenant, "connection": connection, "entity_type": "customer"})
    return value or 0.0


def test_a_collection_without_status_is_degraded_naming_the_field(connected, sources,
                                                                   settings):
    product = services.data_product_named("customers")
    assert product.check_health().state == HealthState.HEALTHY
    control(sources.directus_url, "faults", {"missing_fields": ["status"]})

    assert product.check_health().state == HealthState.DEGRADED
    connection = SourceConnection.objects.get(name="customers")
    assert connection.health_state == "degraded"
    assert "status must be non-empty text, got missing" in connection.health_detail

    # Polling skips every customer as malformed: the metric counts them per connection.
    before = _malformed_count(connected, "customers")
    result = poll(product)
    assert (result.error, result.changes) == ("", 0)
    assert _malformed_count(connected, "customers") - before >= 50
    # A lookup counts its malformed record once, not once per layer.
    before = _malformed_count(connected, "customers")
    product.get_entities("customer", ["3"])
    assert _malformed_count(connected, "customers") - before == 1

    # The admin's connection list says what is wrong.
    settings.ALLOWED_HOSTS = [*settings.ALLOWED_HOSTS, ".testserver"]
    with schema_context("public"):
        admin = get_user_model().objects.create_superuser("drift-admin", "", "pw-drift-1")
    client = Client(HTTP_HOST=tenant_host(connected))
    client.force_login(admin)
    page = client.get("/admin/adapters/sourceconnection/").content.decode()
    assert "degraded: Records of &#x27;customers&#x27; do not map" in page
    assert "status must be non-empty text" in page
    form = client.get(f"/admin/adapters/sourceconnection/{connection.pk}/change/")
    assert "status must be non-empty text, got missing" in form.content.decode()
