"""The image's `asgi` role as the entrypoint runs it: gunicorn with config/gunicorn.py and
uvicorn workers (config/asgi_worker.py), serving HTTP and graphql-transport-ws sockets."""

from __future__ import annotations

import asyncio
import os
import socket
import subprocess
import sys
import time
from pathlib import Path

import requests
from django.conf import settings

from tests.federation.subscriptions.conftest import (
    WAIT_SECONDS,
    AsgiServer,
    RawSocket,
    raw_socket,
)
from tests.sagas.worker_process import _database_url


def _free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


def _wait_until_serving(base: str, server: subprocess.Popen[bytes], log: Path) -> None:
    deadline = time.monotonic() + 3 * WAIT_SECONDS
    while time.monotonic() < deadline:
        assert server.poll() is None, log.read_text()[-3000:]
        try:
            if requests.get(f"{base}/healthz", timeout=WAIT_SECONDS).status_code == 200:
                return
        except (requests.ConnectionError, requests.Timeout):  # still starting
            pass
        time.sleep(0.2)
    raise AssertionError(f"gunicorn did not answer /healthz: {log.read_text()[-3000:]}")


def test_the_asgi_role_serves_http_and_subscriptions(api_committed, tmp_path):
    port, log = _free_port(), tmp_path / "gunicorn.log"
    env = {**os.environ, "DATABASE_URL": _database_url(), "WEB_CONCURRENCY": "1",
           "GUNICORN_BIND": f"127.0.0.1:{port}",
           "PROMETHEUS_MULTIPROC_DIR": str(tmp_path / "prometheus"),
           "KAFKA_BOOTSTRAP_SERVERS": ",".join(settings.KAFKA_BOOTSTRAP_SERVERS),
           "ALLOWED_HOSTS": "localhost,127.0.0.1,.testserver"}
    with log.open("wb") as output:
        server = subprocess.Popen(  # noqa: S603 - our own interpreter's gunicorn
            [str(Path(sys.executable).with_name("gunicorn")), "-c", "python:config.gunicorn",
             "-k", "config.asgi_worker.AsgiWorker", "config.asgi:application"],
            env=env, stdout=output, stderr=subprocess.STDOUT, cwd=settings.BASE_DIR)
        try:
            _wait_until_serving(f"http://127.0.0.1:{port}", server, log)

            async def scenario():
                async with raw_socket(AsgiServer(port, None), api_committed.tenant) as ws:
                    socket = RawSocket(ws)
                    ack = await socket.init(api_committed.key)
                    await socket.send({"type": "subscribe", "id": "q", "payload": {
                        "query": "{ customer(id: \"1\") { id } }"}})
                    # The client offers permessage-deflate; the role declines it.
                    extensions = ws.response.headers.get("Sec-WebSocket-Extensions")
                    return ack, await socket.receive(), extensions

            ack, refusal, extensions = asyncio.run(scenario())
        finally:
            server.terminate()
            server.wait(timeout=30)
    assert ack == {"type": "connection_ack"}
    assert refusal["payload"][0]["extensions"]["code"] == "NOT_A_SUBSCRIPTION"
    assert extensions is None
