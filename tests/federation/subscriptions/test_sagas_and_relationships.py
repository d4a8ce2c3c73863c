"""`sagaUpdated` and `catalogRelationshipAdded` end to end with a standard client (`gql`):
a real saga run by a real Celery worker, and a relationship the catalog records from an
invoice polled at the reference e-commerce source, each reach their subscriber through the
outbox, the relay, Kafka, the `live` consumer group and the channel layer; another
tenant's key never receives them."""

from __future__ import annotations

import asyncio
from typing import Any

import pytest
import requests
from django.db import connection
from django_tenants.utils import schema_context
from gql import GraphQLRequest

from apps.adapters import services
from apps.adapters.changes import poll
from apps.sagas.tasks import run_step
from apps.tenancy.api_keys import create_api_key
from devtools.reference import ecommerce
from tests.federation.subscriptions.conftest import (
    WAIT_SECONDS,
    RawSocket,
    gql_client,
    raw_socket,
    subscribed,
)
from tests.federation.subscriptions.live import publish_events, relationship_event
from tests.sagas.conftest import (  # noqa: F401 - fixtures
    CUSTOMER,
    SKU,
    saga_settings,
    saga_tenant,
    sources,
    start,
)

SAGA = """
subscription Saga($id: ID!) {
  sagaUpdated(id: $id) { id definition state currentStep timeline { step phase outcome } }
}"""
EDGES = """
subscription Edges($id: ID!) {
  catalogRelationshipAdded(type: "invoice", id: $id) {
    eventId relationshipType origin subject { type id } object { type id }
  }
}"""
# Generous: the worker's consumer groups join first (~3 s each on the test broker), and the
# relationship takes two trips through Kafka (the catalog group, then the live group).
ARRIVAL_SECONDS = 4 * WAIT_SECONDS


async def _first(stream: Any, wanted: Any) -> dict[str, Any]:
    """The first result ``wanted`` accepts (earlier ones are the same subject's too)."""
    async for result in stream:
        if wanted(result):
            await stream.aclose()
            return result
    raise AssertionError("the subscription ended before the awaited result")


@pytest.mark.worker_services
def test_a_sagas_state_changes_reach_its_subscriber(saga_tenant, tenants_committed,  # noqa: F811
                                                    asgi_server, request):
    tenant_b = tenants_committed[1].schema_name
    _, key_a = create_api_key(saga_tenant, "saga watcher", ["read"])
    _, key_b = create_api_key(tenant_b, "b reader", ["read"])
    # Started before the worker: its first step waits in a queue no worker reads, so the
    # subscription is in place before the saga moves.
    saga = start()
    request.getfixturevalue("celery_worker")  # relay, consumer groups, saga steps

    async def scenario() -> tuple[dict[str, Any], list[dict[str, Any]], dict[str, Any]]:
        async with gql_client(asgi_server, saga_tenant, key_a) as session, \
                raw_socket(asgi_server, tenant_b) as connection_b:
            stream = session.subscribe(GraphQLRequest(SAGA, variable_values={"id": saga.id}))
            seen: list[dict[str, Any]] = []

            def completed(result: dict[str, Any]) -> bool:
                seen.append(result["sagaUpdated"])
                return result["sagaUpdated"]["state"] == "COMPLETED"

            done = asyncio.ensure_future(_first(stream, completed))
            await asyncio.sleep(0)
            await subscribed(session)
            # Tenant B's key cannot follow A's saga: to B it does not exist.
            other = RawSocket(connection_b)
            assert (await other.init(key_b))["type"] == "connection_ack"
            await other.send({"type": "subscribe", "id": "a-saga",
                              "payload": {"query": SAGA, "variables": {"id": saga.id}}})
            refused = await other.receive()
            with schema_context(saga_tenant):  # the task carries the sender's tenant
                run_step.delay(saga.id)  # what starting a saga queues: the worker runs it
            return await asyncio.wait_for(done, ARRIVAL_SECONDS), seen, refused

    final, seen, refused = asyncio.run(scenario())
    assert final["sagaUpdated"]["id"] == saga.id
    assert final["sagaUpdated"]["definition"] == "create_invoice"
    # The saga as it is after the change, read through the sagas service like a query.
    assert [s["step"] for s in final["sagaUpdated"]["timeline"]][:1] == ["reserve_stock"]
    assert all(s["outcome"] == "SUCCEEDED" for s in final["sagaUpdated"]["timeline"])
    assert seen[-1] == final["sagaUpdated"]  # every update up to the final one ...
    assert {update["id"] for update in seen} == {saga.id}  # ... is this saga's
    assert refused["type"] == "error"
    assert refused["id"] == "a-saga"
    assert refused["payload"][0]["extensions"]["code"] == "SAGA_NOT_FOUND"


def _poll_invoices(tenant: str) -> int:
    """What the worker's poll does for the invoices source: its changes go to the outbox."""
    try:
        with schema_context(tenant):
            return poll(services.data_product_for("invoice")).changes
    finally:
        connection.close()  # this thread's own session, before the test database goes


@pytest.mark.worker_services
def test_a_relationship_the_catalog_records_reaches_its_subscriber_only(
        saga_tenant, sources, tenants_committed, asgi_server, celery_worker):  # noqa: F811
    tenant_b = tenants_committed[1].schema_name
    _, key_a = create_api_key(saga_tenant, "edge watcher", ["read"])
    _, key_b = create_api_key(tenant_b, "b reader", ["read"])
    created = requests.post(f"{sources.ecommerce_url}/api/v1/invoices", timeout=WAIT_SECONDS,
                            headers={"Authorization": f"Bearer {ecommerce.DEFAULT_TOKEN}"},
                            json={"customer_id": int(CUSTOMER),
                                  "items": [{"sku": SKU, "quantity": 1}]})
    assert created.status_code == 201, created.text
    invoice_id = str(created.json()["data"]["id"])
    ends = {"type": "invoice", "id": invoice_id}

    def billed_to(result: dict[str, Any]) -> bool:
        return result["catalogRelationshipAdded"]["relationshipType"] == "billed_to"

    async def scenario() -> tuple[dict[str, Any], dict[str, Any]]:
        async with gql_client(asgi_server, saga_tenant, key_a) as a, \
                gql_client(asgi_server, tenant_b, key_b) as b:
            stream_a = a.subscribe(GraphQLRequest(EDGES, variable_values={"id": invoice_id}))
            stream_b = b.subscribe(GraphQLRequest(EDGES, variable_values={"id": invoice_id}))
            got_a = asyncio.ensure_future(_first(stream_a, billed_to))
            first_b = asyncio.ensure_future(stream_b.__anext__())
            await asyncio.sleep(0)
            await subscribed(a)
            await subscribed(b)
            assert await asyncio.to_thread(_poll_invoices, saga_tenant) >= 1
            edge = await asyncio.wait_for(got_a, ARRIVAL_SECONDS)
            # B follows the same invoice id in its own tenant. A's relationship went
            # through this process' hub before B's own one below: had B's socket been
            # given A's, it would have come first.
            await publish_events(relationship_event(
                tenant_b, ends, {"type": "customer", "id": "b-marker"}))
            got_b = await asyncio.wait_for(first_b, WAIT_SECONDS)
            await stream_b.aclose()
            return edge, got_b

    edge, got_b = asyncio.run(scenario())
    added = edge["catalogRelationshipAdded"]
    assert added["subject"] == ends
    assert added["object"] == {"type": "customer", "id": CUSTOMER}
    assert added["origin"] == "DERIVED"  # from the invoice's customer field
    assert got_b["catalogRelationshipAdded"]["object"] == {"type": "customer", "id": "b-marker"}
