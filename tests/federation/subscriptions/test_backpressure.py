"""A client that reads slower than its events arrive is closed with TOO_SLOW (4013) once
its socket's bounded queue is full; the server buffers no more than that for it, and the
other subscribers go on receiving."""

from __future__ import annotations

import asyncio
import base64
import os
import socket

import websockets
from gql import gql
from websockets.typing import Subprotocol

from tests.conftest import tenant_host
from tests.federation.subscriptions.conftest import (
    RawSocket,
    gql_client,
    subscribed,
)
from tests.federation.subscriptions.live import entity_event, publish_events

NAMES = ('subscription { entityChanged(type: "customer") { id '
         "entity { ... on Customer { name } } } }")
EVENTS = 300
# The events published at once: fewer than GRAPHQL_WS_QUEUE_SIZE (4) below.
PACE = 2
# 300 events of ~20 kB: far beyond the sockets' and the queue's buffers (random text, so
# that no compression could shrink it, were the server to accept permessage-deflate).
NAME = base64.b64encode(os.urandom(15_000)).decode()


def test_a_slow_subscriber_is_closed_and_the_others_still_receive(api_committed, asgi_server,
                                                                   settings):
    settings.GRAPHQL_WS_QUEUE_SIZE = 4
    tenant = api_committed.tenant

    # Small socket buffers at both ends (Linux would otherwise let ~4 MB wait in the
    # kernel): the server's accepted sockets inherit its listener's send buffer.
    assert asgi_server.listener is not None
    asgi_server.listener.setsockopt(socket.SOL_SOCKET, socket.SO_SNDBUF, 16_384)

    async def scenario():
        # A client that does not read: a tiny receive buffer, and the library stops reading
        # once one message waits.
        sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4096)
        sock.connect(("127.0.0.1", asgi_server.port))
        async with websockets.connect(
                asgi_server.ws_url(tenant_host(tenant)), sock=sock, max_queue=1,
                compression=None,
                subprotocols=[Subprotocol("graphql-transport-ws")]) as connection, \
                gql_client(asgi_server, tenant, api_committed.key) as reader:
            slow = RawSocket(connection)
            assert (await slow.init(api_committed.key))["type"] == "connection_ack"
            await slow.send({"type": "subscribe", "id": "slow", "payload": {"query": NAMES}})
            await slow.send({"type": "ping"})
            assert await slow.receive() == {"type": "pong"}
            stream = reader.subscribe(gql(NAMES))
            first = asyncio.ensure_future(stream.__anext__())
            await asyncio.sleep(0)
            await subscribed(reader)
            # The reader keeps up: the next events go out once it has the previous ones,
            # so its queue never holds more than PACE (a busy machine cannot make it the
            # slow one), while the slow socket, reading nothing, overflows its queue.
            pending: asyncio.Future | None = first
            received: list[str] = []
            for start in range(0, EVENTS, PACE):
                await publish_events(*(entity_event(tenant, "customer", str(n), {"name": NAME},
                                                    ["name"])
                                       for n in range(start, min(start + PACE, EVENTS))))
                while len(received) < min(start + PACE, EVENTS):
                    waiting = pending or asyncio.ensure_future(stream.__anext__())
                    pending = None
                    result = await asyncio.wait_for(waiting, 60)
                    received.append(result["entityChanged"]["id"])
            await publish_events(entity_event(tenant, "customer", "last", {"name": "end"},
                                              ["name"]))
            result = await asyncio.wait_for(stream.__anext__(), 60)
            received.append(result["entityChanged"]["id"])
            await stream.aclose()
            return received, await slow.closed_with()

    received, (code, reason) = asyncio.run(scenario())
    # Every event, the last included, each once (events of different entities may
    # overtake each other within a pace).
    assert sorted(received) == sorted([*map(str, range(EVENTS)), "last"])
    assert code == 4013
    assert "too slow" in reason
