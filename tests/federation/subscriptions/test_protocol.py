"""The graphql-transport-ws protocol at `/graphql` as the `graphql-ws` library defines it:
each violation closes the socket with the protocol's close code, a refused document is an
`error` for its subscription and the socket lives on."""

from __future__ import annotations

import asyncio
import json

import pytest
import requests
from gql import GraphQLRequest, gql
from gql.transport.exceptions import TransportQueryError

from apps.tenancy.api_keys import create_api_key
from apps.tenancy.graphql_limits import set_tenant_graphql_limits
from tests.conftest import tenant_host
from tests.federation.subscriptions.conftest import (
    RawSocket,
    gql_client,
    raw_socket,
    subscribed,
)
from tests.federation.subscriptions.live import entity_event, publish_events

CUSTOMER_CHANGES = """
subscription Follow($ids: [ID!]) {
  entityChanged(type: "customer", ids: $ids) {
    type id change deleted changedFields
    entity { ... on Customer { id name email } }
  }
}"""


def run(coroutine):
    return asyncio.run(coroutine)


def test_a_subscriber_receives_the_changed_entity_and_a_tombstone(api_committed, asgi_server):
    tenant = api_committed.tenant

    async def scenario():
        async with gql_client(asgi_server, tenant, api_committed.key) as session:
            stream = session.subscribe(
                GraphQLRequest(CUSTOMER_CHANGES, variable_values={"ids": ["3"]}))
            first = asyncio.ensure_future(stream.__anext__())
            await asyncio.sleep(0)  # the subscribe message is sent when the stream starts
            await subscribed(session)
            await publish_events(
                entity_event(tenant, "customer", "4", {"name": "Not followed"}, ["name"]),
                entity_event(tenant, "customer", "3", {"name": "Ada", "email": "a@x.io"},
                             ["name"]))
            changed = await asyncio.wait_for(first, 30)
            await publish_events(entity_event(tenant, "customer", "3", {}, [], "DELETED"))
            deleted = await asyncio.wait_for(stream.__anext__(), 30)
            await stream.aclose()
            return changed, deleted

    changed, deleted = run(scenario())
    assert changed["entityChanged"] == {
        "type": "customer", "id": "3", "change": "UPDATED", "deleted": False,
        "changedFields": ["name"], "entity": {"id": "3", "name": "Ada", "email": "a@x.io"}}
    assert deleted["entityChanged"]["deleted"] is True
    assert deleted["entityChanged"]["entity"] is None


@pytest.mark.parametrize(("document", "code", "words"), [
    ('subscription { entityChanged(type: "customer") { nope } }',
     "GRAPHQL_VALIDATION_FAILED", "nope"),
    ('subscription { entityChanged(type: "spaceship") { id } }',
     "INVALID_ARGUMENT", "customer, product, invoice"),
    ("{ customer(id: \"1\") { id } }", "NOT_A_SUBSCRIPTION", "POST /graphql"),
    ("subscription { entityChanged(type: \"customer\") { id", "GRAPHQL_PARSE_FAILED", "Syntax"),
    ('subscription { sagaUpdated(id: "00000000-0000-0000-0000-000000000000") { id } }',
     "SAGA_NOT_FOUND", "no saga"),
    ('subscription { entityChanged(type: "customer") { '
     + " ".join(f"a{n}: id" for n in range(60)) + " } }", "TOO_MANY_ALIASES", "60 aliases"),
])
def test_an_invalid_document_is_refused_at_subscribe_and_the_socket_lives_on(
        api_committed, asgi_server, document, code, words):
    refusal, pong = run(_subscribe_and_ping(asgi_server, api_committed, document))
    assert (refusal["type"], refusal["id"]) == ("error", "bad"), refusal
    [error] = refusal["payload"][:1]
    assert error["extensions"]["code"] == code, refusal
    assert words in error["message"]
    assert pong == {"type": "pong"}


def test_a_subscription_over_the_tenants_cost_budget_is_refused(api_committed, asgi_server):
    # The budget is the tenant's, as for queries: each customer's invoices cost per item.
    set_tenant_graphql_limits(api_committed.tenant, {"max_cost": 20})
    document = ('subscription { entityChanged(type: "customer") { entity { ... on Customer '
                "{ invoices { id customer { id name email } } } } } }")

    refusal, pong = run(_subscribe_and_ping(asgi_server, api_committed, document))
    assert (refusal["type"], refusal["id"]) == ("error", "bad"), refusal
    assert refusal["payload"][0]["extensions"]["code"] == "QUERY_TOO_COSTLY"
    assert "above the limit of 20" in refusal["payload"][0]["message"]
    assert pong == {"type": "pong"}


async def _subscribe_and_ping(server, api, document: str):
    """The server's answer to subscribing to ``document`` (as id "bad"), then to a ping."""
    async with raw_socket(server, api.tenant) as connection:
        socket = RawSocket(connection)
        assert (await socket.init(api.key))["type"] == "connection_ack"
        await socket.send({"type": "subscribe", "id": "bad", "payload": {"query": document}})
        refusal = await socket.receive()
        await socket.send({"type": "ping"})
        return refusal, await socket.receive()


def _too_deep(levels: int) -> str:
    """customer -> invoices -> customer -> ... ``levels`` times: over the depth limit."""
    selection = "id"
    for level in range(levels):
        selection = (f"invoices {{ {selection} }}" if level % 2 == 0
                     else f"customer {{ {selection} }}")
    return ('subscription { entityChanged(type: "customer") { entity { ... on Customer { '
            f"{selection} }} }} }} }}")


def test_gql_reports_a_refused_document_with_its_message(api_committed, asgi_server):
    async def scenario():
        async with gql_client(asgi_server, api_committed.tenant, api_committed.key) as session:
            with pytest.raises(TransportQueryError, match="nests deeper") as refused:
                async for _ in session.subscribe(gql(_too_deep(20))):
                    pass
            return refused.value.errors

    errors = run(scenario())
    assert errors[0]["extensions"]["code"] == "QUERY_TOO_DEEP"


@pytest.mark.parametrize(("messages", "code"), [
    (['{"type": "subscribe", "id": "1", "payload": {"query": "subscription { x }"}}'], 4401),
    (["not json"], 4400),
    (['{"type": "connection_init"}', '{"type": "connection_init"}'], 4429),
    (['{"type": "teleport"}'], 4400),
])
def test_protocol_violations_close_with_the_protocols_codes(api_committed, asgi_server,
                                                            messages, code):
    key = api_committed.key

    async def scenario():
        async with raw_socket(asgi_server, api_committed.tenant) as connection:
            socket = RawSocket(connection)
            for message in messages:
                if message == '{"type": "connection_init"}':
                    message = json.dumps({"type": "connection_init",
                                          "payload": {"Authorization": f"Bearer {key}"}})
                await socket.send(message)
            return await socket.closed_with()

    closed, _ = run(scenario())
    assert closed == code


def test_a_duplicate_subscription_id_closes_with_4409(api_committed, asgi_server):
    async def scenario():
        async with raw_socket(asgi_server, api_committed.tenant) as connection:
            socket = RawSocket(connection)
            await socket.init(api_committed.key)
            for _ in range(2):
                await socket.send({"type": "subscribe", "id": "same",
                                   "payload": {"query": CUSTOMER_CHANGES}})
            return await socket.closed_with()

    assert run(scenario())[0] == 4409


def test_no_subprotocol_and_no_init_are_closed(api_committed, asgi_server, settings):
    settings.GRAPHQL_WS_INIT_TIMEOUT_SECONDS = 0.5

    async def scenario():
        async with raw_socket(asgi_server, api_committed.tenant, subprotocol=None) as plain:
            no_subprotocol = await RawSocket(plain).closed_with()
        async with raw_socket(asgi_server, api_committed.tenant) as silent:
            no_init = await RawSocket(silent).closed_with()
        return no_subprotocol, no_init

    no_subprotocol, no_init = run(scenario())
    assert no_subprotocol[0] == 4406
    assert "graphql-transport-ws" in no_subprotocol[1]
    assert no_init[0] == 4408


def test_http_graphql_is_served_under_asgi_too(api_committed, asgi_server):
    response = requests.post(
        f"http://127.0.0.1:{asgi_server.port}/graphql", timeout=30,
        json={"query": '{ customer(id: "3") { id } }'},
        headers={"Host": tenant_host(api_committed.tenant),
                 "Authorization": f"Bearer {api_committed.key}"})
    assert response.status_code == 200, response.text
    assert response.json() == {"data": {"customer": {"id": "3"}}}


def test_a_write_key_may_subscribe_and_an_unknown_key_may_not(api_committed, asgi_server):
    _, writer = create_api_key(api_committed.tenant, "writer", ["write"])

    async def scenario():
        async with raw_socket(asgi_server, api_committed.tenant) as connection:
            accepted = await RawSocket(connection).init(writer)
        async with raw_socket(asgi_server, api_committed.tenant) as connection:
            socket = RawSocket(connection)
            await socket.send({"type": "connection_init",
                               "payload": {"Authorization": "Bearer dm_nope_nope_nope"}})
            refused = await socket.closed_with()
        return accepted, refused

    accepted, refused = run(scenario())
    assert accepted == {"type": "connection_ack"}
    assert refused[0] == 4403
    assert "invalid or has been revoked" in refused[1]
