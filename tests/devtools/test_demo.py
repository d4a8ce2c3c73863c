"""What the local stack sets up for its demo: the local admin user and the demo tenant's
connections to the reference servers (real servers, on free ports)."""

from __future__ import annotations

from collections.abc import Iterator
from urllib.parse import urlsplit

import pytest
from django.contrib.auth import get_user_model
from django_tenants.utils import schema_context

from apps.adapters import services
from apps.adapters.base import EntityQuery
from devtools import demo
from devtools.reference import ReferenceSources, Sizes, start_reference_sources


@pytest.fixture(scope="module")
def sources() -> Iterator[ReferenceSources]:
    with start_reference_sources(seed=3, sizes=Sizes(customers=4, products=4,
                                                     invoices=4)) as running:
        yield running


def _ports(sources: ReferenceSources) -> dict[str, int]:
    return {name: int(urlsplit(url).port or 0) for name, url in [
        ("directus", sources.directus_url), ("products", sources.products_url),
        ("ecommerce", sources.ecommerce_url), ("suppliers", sources.suppliers_url)]}


def test_connected_sources_answer_with_the_credentials_the_servers_accept(sources, tenant_a):
    lines = demo.connect_reference_sources(tenant_a.schema_name, "s3cret",
                                           ports=_ports(sources))

    assert [line.split(" (")[0] for line in lines] == [
        "Connected customers", "Connected products", "Connected invoices",
        "Connected suppliers"]
    with schema_context(tenant_a.schema_name):
        products = {product.name: product for product in services.data_products()}
        assert sorted(products) == ["customers", "invoices", "products", "suppliers"]
        for product in products.values():
            entity_type = product.adapter.entity_types[0]
            page = product.adapter.query_entities(entity_type, EntityQuery(page_size=2))
            assert len(page.entities) == 2, product.name
        assert products["customers"].connection.credentials["webhook_secret"] == "s3cret"
        assert products["products"].connection.base_url == sources.products_url


def test_connecting_again_updates_the_connections(sources, tenant_a):
    demo.connect_reference_sources(tenant_a.schema_name, "first", ports=_ports(sources))
    lines = demo.connect_reference_sources(tenant_a.schema_name, "second",
                                           ports=_ports(sources), polling_interval_seconds=7)

    assert all(line.startswith("Updated ") for line in lines)
    with schema_context(tenant_a.schema_name):
        customers = services.data_product_named("customers").connection
        assert customers.credentials["webhook_secret"] == "second"
        assert customers.polling_interval_seconds == 7


def test_an_unknown_tenant_is_a_setup_error(db):
    with pytest.raises(demo.DemoSetupError, match="no_such_tenant"):
        demo.connect_reference_sources("no_such_tenant", "s3cret")


def test_the_webhook_secret_is_configured_or_fresh(monkeypatch):
    monkeypatch.setenv(demo.WEBHOOK_SECRET_VARIABLE, "from-the-environment")
    assert demo.demo_webhook_secret() == "from-the-environment"

    monkeypatch.delenv(demo.WEBHOOK_SECRET_VARIABLE)
    first, second = demo.demo_webhook_secret(), demo.demo_webhook_secret()
    assert first != second
    assert len(first) >= 32


def test_the_local_admin_is_created_once(db, settings):
    settings.DEBUG = True
    assert demo.ensure_local_admin("local_admin", "admin") is True
    assert demo.ensure_local_admin("local_admin", "other") is False

    user = get_user_model().objects.get(username="local_admin")
    assert user.is_superuser
    assert user.is_staff
    assert user.check_password("admin")


def test_the_local_admin_is_refused_with_debug_off(db, settings):
    settings.DEBUG = False
    with pytest.raises(demo.DemoSetupError, match="DEBUG is off"):
        demo.ensure_local_admin("local_admin", "admin")
    assert not get_user_model().objects.filter(username="local_admin").exists()


def test_the_demo_has_a_platform_admin_and_a_tenant_admin(tenant_a, settings):
    from apps.tenancy.services import is_platform_admin, role_in

    settings.DEBUG = True
    assert demo.ensure_local_admin("admin", "admin") is True
    assert demo.ensure_tenant_admin(tenant_a.schema_name, "demo-admin", "demo-admin") is True
    assert demo.ensure_tenant_admin(tenant_a.schema_name, "demo-admin", "other") is False
    users = get_user_model().objects
    assert is_platform_admin(users.get(username="admin"))
    tenant_admin = users.get(username="demo-admin")
    assert tenant_admin.check_password("demo-admin")  # the second run kept it
    assert not is_platform_admin(tenant_admin)
    assert role_in(tenant_admin, tenant_a.schema_name) == "admin"
