"""Who may subscribe to what: tenants never see each other's events, a revoked key's
socket closes, and the per-key limits hold."""

from __future__ import annotations

import asyncio
from datetime import timedelta

import pytest
from django.db import connection
from django.utils import timezone
from gql import gql

from apps.tenancy.api_keys import create_api_key, revoke_api_key
from apps.tenancy.models import ApiKey
from tests.federation.subscriptions.conftest import RawSocket, gql_client, raw_socket, subscribed
from tests.federation.subscriptions.live import entity_event, publish_events

NAMES = ('subscription { entityChanged(type: "customer") { id '
         "entity { ... on Customer { name } } } }")


def test_a_key_of_tenant_b_never_receives_tenant_as_events(api_committed, tenants_committed,
                                                             asgi_server):
    tenant_a, tenant_b = (t.schema_name for t in tenants_committed)
    _, key_b = create_api_key(tenant_b, "b reader", ["read"])

    async def scenario():
        async with gql_client(asgi_server, tenant_a, api_committed.key) as a, \
                gql_client(asgi_server, tenant_b, key_b) as b:
            stream_a, stream_b = a.subscribe(gql(NAMES)), b.subscribe(gql(NAMES))
            next_a = asyncio.ensure_future(stream_a.__anext__())
            next_b = asyncio.ensure_future(stream_b.__anext__())
            await asyncio.sleep(0)
            await subscribed(a)
            await subscribed(b)
            # A's event first, then B's, from one publisher: a socket in A's group would
            # see A's event before B's own.
            await publish_events(entity_event(tenant_a, "customer", "1", {"name": "A1"}, ["name"]))
            await publish_events(entity_event(tenant_b, "customer", "1", {"name": "B1"}, ["name"]))
            got_a, got_b = await asyncio.wait_for(asyncio.gather(next_a, next_b), 30)
            await stream_a.aclose()
            await stream_b.aclose()
            return got_a, got_b

    got_a, got_b = asyncio.run(scenario())
    assert got_a["entityChanged"]["entity"] == {"name": "A1"}
    assert got_b["entityChanged"]["entity"] == {"name": "B1"}


def test_an_event_naming_another_tenant_than_its_topic_is_not_delivered(
        api_committed, tenants_committed, asgi_server):
    tenant_a, tenant_b = (t.schema_name for t in tenants_committed)
    _, key_b = create_api_key(tenant_b, "b reader", ["read"])

    async def scenario():
        async with gql_client(asgi_server, tenant_b, key_b) as b:
            stream = b.subscribe(gql(NAMES))
            first = asyncio.ensure_future(stream.__anext__())
            await asyncio.sleep(0)
            await subscribed(b)
            await publish_events(
                entity_event(tenant_a, "customer", "1", {"name": "forged"}, ["name"],
                             record_tenant=tenant_b),
                entity_event(tenant_b, "customer", "2", {"name": "B2"}, ["name"]))
            got = await asyncio.wait_for(first, 30)
            await stream.aclose()
            return got

    assert asyncio.run(scenario())["entityChanged"]["entity"] == {"name": "B2"}


def test_a_key_of_another_tenant_is_refused_at_init(api_committed, tenants_committed,
                                                    asgi_server):
    tenant_b = tenants_committed[1].schema_name

    async def scenario():
        async with raw_socket(asgi_server, tenant_b) as connection:
            socket = RawSocket(connection)
            await socket.send({"type": "connection_init",
                               "payload": {"Authorization": f"Bearer {api_committed.key}"}})
            return await socket.closed_with()

    code, reason = asyncio.run(scenario())
    assert code == 4403
    assert "another tenant" in reason


@pytest.mark.parametrize(("ending", "words"), [("revoke", "revoked"), ("expire", "expired")])
def test_a_key_revoked_or_expiring_while_its_socket_is_open_is_disconnected(
        api_committed, asgi_server, settings, ending, words):
    settings.GRAPHQL_WS_KEY_RECHECK_SECONDS = 0.2
    stored, key = create_api_key(api_committed.tenant, "ending", ["read"],
                                 expires_at=timezone.now() + timedelta(hours=1))

    async def scenario():
        async with raw_socket(asgi_server, api_committed.tenant) as connection:
            socket = RawSocket(connection)
            assert (await socket.init(key))["type"] == "connection_ack"
            await socket.send({"type": "subscribe", "id": "1", "payload": {"query": NAMES}})
            await socket.send({"type": "ping"})
            assert await socket.receive() == {"type": "pong"}
            await asyncio.to_thread(_end_key, ending, api_committed.tenant, stored)
            return await socket.closed_with()

    code, reason = asyncio.run(scenario())
    assert code == 4403
    assert words in reason


def _end_key(ending: str, tenant: str, stored: ApiKey) -> None:
    try:
        if ending == "revoke":
            revoke_api_key(tenant, stored.prefix)
        else:  # its expiry comes (brought forward, rather than waited for)
            ApiKey.objects.filter(pk=stored.pk).update(
                expires_at=timezone.now() - timedelta(seconds=1))
    finally:
        connection.close()  # this thread's own session


def test_open_subscriptions_per_key_are_limited(api_committed, asgi_server, settings):
    settings.GRAPHQL_WS_MAX_SUBSCRIPTIONS_PER_KEY = 2
    _, key = create_api_key(api_committed.tenant, "limited", ["read"])

    async def scenario():
        async with raw_socket(asgi_server, api_committed.tenant) as first, \
                raw_socket(asgi_server, api_committed.tenant) as second:
            one, two = RawSocket(first), RawSocket(second)
            await one.init(key)
            await two.init(key)
            for subscription_id in ("a", "b"):
                await one.send({"type": "subscribe", "id": subscription_id,
                                "payload": {"query": NAMES}})
            await one.send({"type": "ping"})
            assert await one.receive() == {"type": "pong"}
            # The key's third, on another socket: refused, the socket stays.
            await two.send({"type": "subscribe", "id": "c", "payload": {"query": NAMES}})
            refused = await two.receive()
            await one.send({"type": "complete", "id": "a"})
            await one.send({"type": "ping"})
            assert await one.receive() == {"type": "pong"}
            await two.send({"type": "subscribe", "id": "d", "payload": {"query": NAMES}})
            await two.send({"type": "ping"})
            return refused, await two.receive()

    refused, after_complete = asyncio.run(scenario())
    assert refused["type"] == "error"
    assert refused["payload"][0]["extensions"]["code"] == "TOO_MANY_SUBSCRIPTIONS"
    assert after_complete == {"type": "pong"}  # no error: the freed slot was taken


def test_too_many_messages_per_second_close_the_socket(api_committed, asgi_server, settings):
    settings.GRAPHQL_WS_MESSAGES_PER_SECOND = 5

    async def scenario():
        async with raw_socket(asgi_server, api_committed.tenant) as connection:
            socket = RawSocket(connection)
            await socket.init(api_committed.key)
            for _ in range(50):  # over 5 per second however slow the machine
                await socket.send({"type": "ping"})
            return await socket.closed_with()

    code, reason = asyncio.run(scenario())
    assert code == 4008
    assert "5 per second" in reason
