"""A real ASGI server (uvicorn, in a thread of the test process, on the test database) and
standard graphql-transport-ws clients for it: Python's `gql` with its websockets transport,
and a raw `websockets` connection where a test must misbehave as no client library would."""

from __future__ import annotations

import asyncio
import json
import socket
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

import pytest
import uvicorn
import websockets
from django.db import connections
from gql import Client
from gql.transport.websockets import WebsocketsTransport
from websockets.typing import Subprotocol

from apps.federation.subscriptions import threads
from tests.conftest import tenant_host

# Generous: a busy CI machine can take seconds for what takes milliseconds here.
WAIT_SECONDS = 30.0


@dataclass
class AsgiServer:
    port: int
    listener: socket.socket | None

    def ws_url(self, host: str) -> str:
        return f"ws://{host}:{self.port}/graphql"

    def connect_args(self) -> dict[str, Any]:
        """Reach the server on loopback whatever host name the URL (and so the Host
        header, which picks the tenant) carries."""
        return {"host": "127.0.0.1", "port": self.port}


@pytest.fixture
def asgi_server(settings, monkeypatch) -> Iterator[AsgiServer]:
    settings.ALLOWED_HOSTS = [*settings.ALLOWED_HOSTS, ".testserver"]
    # Django keeps a connection per thread for CONN_MAX_AGE; the server's request threads
    # must not hold sessions on the test database when the suite drops it.
    monkeypatch.setitem(connections.settings["default"], "CONN_MAX_AGE", 0)
    listener = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    listener.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    listener.bind(("127.0.0.1", 0))
    # The image's asgi role's options (config/asgi_worker.py).
    config = uvicorn.Config("config.asgi:application", lifespan="off",
                            ws="websockets-sansio", ws_per_message_deflate=False,
                            log_level="warning")
    server = uvicorn.Server(config)
    thread = threading.Thread(target=server.run, kwargs={"sockets": [listener]},
                              name="asgi-test-server", daemon=True)
    thread.start()
    deadline = time.monotonic() + WAIT_SECONDS
    while not server.started:
        assert thread.is_alive(), "the ASGI server stopped while starting"
        assert time.monotonic() < deadline, "the ASGI server did not start"
        time.sleep(0.02)
    yield AsgiServer(listener.getsockname()[1], listener)
    server.should_exit = True
    thread.join(WAIT_SECONDS)
    listener.close()
    threads.close()  # the server's database sessions, before the test database is dropped


def gql_client(server: AsgiServer, tenant: str, key: str | None) -> Client:
    """A `gql` client speaking graphql-transport-ws to ``tenant``'s host."""
    transport = WebsocketsTransport(
        url=server.ws_url(tenant_host(tenant)),
        init_payload={"Authorization": f"Bearer {key}"} if key is not None else {},
        subprotocols=[WebsocketsTransport.GRAPHQLWS_SUBPROTOCOL],
        connect_args=server.connect_args(), ack_timeout=WAIT_SECONDS)
    return Client(transport=transport)


async def subscribed(session: Any) -> None:
    """Return once the server has processed every message the session sent before: a ping
    is answered after them (a socket's messages are handled in order), and the protocol
    has no acknowledgement of `subscribe`."""
    transport = session.transport
    transport.pong_received.clear()
    await transport.send_ping()
    await asyncio.wait_for(transport.pong_received.wait(), WAIT_SECONDS)


class RawSocket:
    """One graphql-transport-ws socket driven message by message."""

    def __init__(self, connection: Any) -> None:
        self.connection = connection

    async def send(self, message: Any) -> None:
        await self.connection.send(message if isinstance(message, str) else json.dumps(message))

    async def receive(self) -> dict[str, Any]:
        return json.loads(await asyncio.wait_for(self.connection.recv(), WAIT_SECONDS))

    async def closed_with(self) -> tuple[int, str]:
        """The close code and reason, once the server has closed (messages before it are
        read and dropped)."""
        try:
            async with asyncio.timeout(WAIT_SECONDS):
                async for _ in self.connection:
                    pass
        except TimeoutError:
            raise AssertionError(f"the socket is still open after {WAIT_SECONDS}s") from None
        except websockets.ConnectionClosed:
            pass  # closed with an error code: what the tests look for
        code = self.connection.close_code
        assert code is not None, "the connection ended without a close frame"
        return code, self.connection.close_reason or ""

    async def init(self, key: str) -> dict[str, Any]:
        await self.send({"type": "connection_init", "payload": {"Authorization": f"Bearer {key}"}})
        return await self.receive()


def raw_socket(server: AsgiServer, tenant: str, subprotocol: str | None = "graphql-transport-ws",
               **options: Any) -> Any:
    return websockets.connect(
        server.ws_url(tenant_host(tenant)), **server.connect_args(),
        subprotocols=[Subprotocol(subprotocol)] if subprotocol else None, open_timeout=WAIT_SECONDS,
        **options)
