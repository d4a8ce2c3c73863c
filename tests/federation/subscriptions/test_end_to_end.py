"""The whole path with a standard client: a customer changed at the reference Directus
reaches a `gql` subscriber through the webhook (served by the same ASGI process), the
outbox, the relay, Kafka, the `live` consumer group in a real Celery worker and the
channel layer."""

from __future__ import annotations

import asyncio
import uuid

import pytest
import requests
from django_tenants.utils import schema_context
from gql import GraphQLRequest

from apps.tenancy.models import Domain, Tenant
from devtools.reference import directus
from tests.federation.subscriptions.conftest import WAIT_SECONDS, gql_client, subscribed
from tests.sources.conftest import WEBHOOK_SECRET, control

FOLLOW = """
subscription Follow($ids: [ID!], $fields: [String!]) {
  entityChanged(type: "customer", ids: $ids, fields: $fields) {
    id change changedFields deleted
    entity { ... on Customer { id name email invoices { id } } }
  }
}"""


@pytest.mark.worker_services
def test_a_change_at_the_source_reaches_the_subscriber_through_the_webhook(
        api_committed, asgi_server, celery_worker):
    tenant = api_committed.tenant
    # The reference Directus posts to the ASGI server; `localhost` routes to the tenant.
    with schema_context("public"):
        Domain.objects.create(domain="localhost", is_primary=False,
                              tenant=Tenant.objects.get(schema_name=tenant))
    control(api_committed.sources.directus_url, "webhook", {
        "url": f"http://localhost:{asgi_server.port}/webhooks/sources/customers",
        "secret": WEBHOOK_SECRET})
    new_name = f"Renamed {uuid.uuid4().hex[:8]}"

    async def scenario():
        async with gql_client(asgi_server, tenant, api_committed.key) as session:
            stream = session.subscribe(GraphQLRequest(FOLLOW, variable_values={
                "ids": ["3"], "fields": ["name"]}))
            received = asyncio.ensure_future(_first_named(stream, new_name))
            await asyncio.sleep(0)
            await subscribed(session)
            response = await asyncio.to_thread(
                requests.patch, f"{api_committed.sources.directus_url}/items/customers/3",
                json={"name": new_name}, timeout=WAIT_SECONDS,
                headers={"Authorization": f"Bearer {directus.DEFAULT_TOKEN}"})
            assert response.status_code == 200, response.text
            # Generous: the worker's consumer groups may still be joining (~3 s each).
            return await asyncio.wait_for(received, 3 * WAIT_SECONDS)

    change = asyncio.run(scenario())
    assert change["id"] == "3"
    assert change["change"] == "UPDATED"
    assert "name" in change["changedFields"]
    assert change["deleted"] is False
    assert change["entity"]["name"] == new_name
    # Linked entities resolve through the loaders, as in a query.
    assert isinstance(change["entity"]["invoices"], list)


async def _first_named(stream, name: str):
    """The first change that carries ``name`` (the broker may still hold earlier events
    of customer 3 from other tests; a new consumer group starts at the oldest)."""
    async for result in stream:
        change = result["entityChanged"]
        if (change.get("entity") or {}).get("name") == name:
            await stream.aclose()
            return change
    raise AssertionError("the subscription ended without the change")
