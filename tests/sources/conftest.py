"""Data products (adapter + breaker + retries + cache + change detection) of a tenant,
against the project's reference servers over HTTP."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest
import redis
import requests
from django.conf import settings as django_settings
from django.core.cache import cache
from django_tenants.utils import schema_context

from apps.adapters import services
from devtools.reference import (
    ReferenceSources,
    Sizes,
    directus,
    ecommerce,
    products,
    start_reference_sources,
)
from dictamesh.resilience import reset_breakers

WEBHOOK_SECRET = "test-webhook-secret"  # noqa: S105


@pytest.fixture(scope="session")
def sources() -> Iterator[ReferenceSources]:
    with start_reference_sources(seed=7, sizes=Sizes(customers=50, products=30,
                                                     invoices=60)) as running:
        yield running


def control(url: str, name: str, body: Any = None) -> Any:
    response = requests.post(f"{url}/__control/{name}", json=body or {}, timeout=10)
    response.raise_for_status()
    return response.json()


def calls(url: str) -> int:
    """API requests the server has received since its last reset."""
    return int(requests.get(f"{url}/__control/stats", timeout=5).json()["total"])


def _connect(tenant: str, sources: ReferenceSources, settings: Any) -> None:
    settings.BREAKER_FAIL_MAX = 3
    settings.BREAKER_RESET_TIMEOUT_SECONDS = 1.0
    settings.BREAKER_PROBE_TIMEOUT_SECONDS = 10.0
    for url in (sources.directus_url, sources.products_url, sources.ecommerce_url):
        control(url, "reset")
    cache.clear()
    _forget_breakers(tenant)
    with schema_context(tenant):
        services.connect_source("customers", "directus", sources.directus_url,
                                {"token": directus.DEFAULT_TOKEN,
                                 "webhook_secret": WEBHOOK_SECRET})
        services.connect_source("products", "products", sources.products_url,
                                {"api_key": products.DEFAULT_API_KEYS[0]})
        services.connect_source("invoices", "ecommerce", sources.ecommerce_url,
                                {"token": ecommerce.DEFAULT_TOKEN})


@pytest.fixture
def connected(sources, tenant_a, settings) -> Iterator[str]:
    """Tenant A connected to the three reference servers, with a quick breaker; the test
    runs in A's schema."""
    _connect(tenant_a.schema_name, sources, settings)
    with schema_context(tenant_a.schema_name):
        yield tenant_a.schema_name
    _forget_breakers(tenant_a.schema_name)


@pytest.fixture
def connected_committed(sources, tenants_committed, settings) -> Iterator[str]:
    """The same, committed, for tests where another thread or process does the work."""
    tenant = tenants_committed[0].schema_name
    _connect(tenant, sources, settings)
    yield tenant
    _forget_breakers(tenant)


def _forget_breakers(tenant: str) -> None:
    """Breaker state lives in Redis across processes, and so across tests: clear it."""
    client = redis.Redis.from_url(django_settings.REDIS_URL)
    for key in client.scan_iter(f"breaker:{tenant}:*"):
        client.delete(key)
    client.close()
    reset_breakers()
