"""The GraphQL API over HTTP (Django's test client on a tenant's host), against the
reference servers, with a real API key."""

from __future__ import annotations

import json
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

import pytest
from django.test import Client
from django_tenants.utils import schema_context

from apps.adapters import services
from apps.adapters.changes import poll
from apps.events.relay import relay_pending
from apps.tenancy.api_keys import create_api_key
from apps.tenancy.graphql_limits import clear_cache, set_tenant_graphql_limits
from devtools.reference import ReferenceSources, Sizes, start_reference_sources
from dictamesh.events.producer import EventProducer
from tests.conftest import tenant_host
from tests.sources.conftest import _connect, _forget_breakers

CUSTOMERS = 120
# The reference servers' seed and sizes: tests compute their expectations from the data set
# these give (devtools.reference.dataset), never from the API under test.
SEED = 11
SIZES = Sizes(customers=CUSTOMERS, products=40, invoices=300)


# What current GraphQL clients send (the GraphQL-over-HTTP spec's recommendation): under it
# a request error is a 400, where plain application/json answers 200 (test_http_spec.py).
MODERN_ACCEPT = "application/graphql-response+json, application/json;q=0.9"


@pytest.fixture(scope="session")
def gql_sources() -> Iterator[ReferenceSources]:
    with start_reference_sources(seed=SEED, sizes=SIZES) as running:
        yield running


@dataclass
class Api:
    client: Client
    host: str
    key: str
    tenant: str
    sources: ReferenceSources

    def post(self, query: str, variables: dict[str, Any] | None = None, path: str = "/graphql",
             key: str | None = None, body: Any = None, accept: str = MODERN_ACCEPT) -> Any:
        payload = body if body is not None else {"query": query, "variables": variables or {}}
        return self.client.post(path, data=json.dumps(payload), content_type="application/json",
                                HTTP_HOST=self.host, HTTP_ACCEPT=accept,
                                HTTP_AUTHORIZATION=f"Bearer {key or self.key}")

    def query(self, query: str, variables: dict[str, Any] | None = None,
              path: str = "/graphql") -> dict[str, Any]:
        response = self.post(query, variables, path)
        assert response.status_code == 200, response.content
        return response.json()


def _api(tenant: Any, sources: ReferenceSources, settings: Any) -> Api:
    settings.GRAPHQL_INTROSPECTION = True
    settings.ALLOWED_HOSTS = [*settings.ALLOWED_HOSTS, ".testserver"]
    _connect(tenant.schema_name, sources, settings)
    _, key = create_api_key(tenant.schema_name, "graphql tests", ["read"])
    # The nested 100-customer query is far above the default cost budget, on purpose.
    set_tenant_graphql_limits(tenant.schema_name, {"max_cost": 1_000_000})
    return Api(Client(), tenant_host(tenant.schema_name), key, tenant.schema_name, sources)


@pytest.fixture
def api(gql_sources, tenant_a, settings) -> Iterator[Api]:
    """Tenant A connected to the reference servers, with a read key for its host; the test
    body runs in A's schema (as the test client's requests do)."""
    built = _api(tenant_a, gql_sources, settings)
    with schema_context(tenant_a.schema_name):
        yield built
    _forget_breakers(tenant_a.schema_name)
    clear_cache()


@pytest.fixture
def api_committed(gql_sources, tenants_committed, settings) -> Iterator[Api]:
    """The same on committed data, for tests where a consumer thread does the work."""
    tenant = tenants_committed[0]
    built = _api(tenant, gql_sources, settings)
    with schema_context(tenant.schema_name):
        yield built
    _forget_breakers(tenant.schema_name)
    clear_cache()


def publish_source_changes(tenant: str, entity_type: str) -> None:
    """What the worker does after a source changed: poll the data product of
    ``entity_type`` (its change events go to the outbox) and relay them to the broker."""
    with schema_context(tenant):
        assert poll(services.data_product_for(entity_type)).changes >= 1
        producer = EventProducer.from_settings()
        try:
            assert relay_pending(producer).sent >= 1
        finally:
            producer.close(timeout=5)
