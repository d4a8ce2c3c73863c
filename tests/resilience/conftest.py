"""A real HTTP source that answers what a test scripts (500s, 429s, slow 200s) and counts
what reaches it, plus the adapter-style mapping of its answers to the contract's errors."""

from __future__ import annotations

import json
import threading
import time
import uuid
from collections import deque
from collections.abc import Iterator
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

import pytest
import redis
import requests
from django.conf import settings

from apps.adapters.base import SourceAuthError, SourceRateLimited, SourceUnavailable
from dictamesh.resilience import build_session, parse_retry_after, reset_breakers


@dataclass(frozen=True)
class Reply:
    status: int = 200
    body: Any = field(default_factory=lambda: {"id": "1", "name": "Ada"})
    headers: dict[str, str] = field(default_factory=dict)
    delay_s: float = 0.0
    # The request waits until the test sets this event: a slow call that ends when the test
    # says so, rather than after a delay the test can only hope was long enough.
    hold: threading.Event | None = None


HOLD_LIMIT_S = 30  # a held request is answered after this anyway, so a failed test ends


@dataclass(frozen=True)
class Received:
    at: float  # time.monotonic() when the request arrived
    method: str
    path: str
    headers: dict[str, str]


class ScriptedServer:
    """Answers with the scripted replies in order, then with the default reply."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._default = Reply()
        self._script: deque[Reply] = deque()
        self.received: list[Received] = []
        server = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"  # keep-alive, as a session's pool expects

            def _answer(self) -> None:
                length = int(self.headers.get("Content-Length") or 0)
                if length:
                    self.rfile.read(length)
                reply = server._next(self.command, self.path, dict(self.headers))
                if reply.delay_s:
                    time.sleep(reply.delay_s)
                if reply.hold is not None:
                    reply.hold.wait(HOLD_LIMIT_S)
                body = json.dumps(reply.body).encode()
                self.send_response(reply.status)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(body)))
                for name, value in reply.headers.items():
                    self.send_header(name, value)
                self.end_headers()
                self.wfile.write(body)

            do_GET = do_POST = _answer

            def log_message(self, format: str, *args: Any) -> None:
                pass

        self._httpd = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self._httpd.daemon_threads = True
        self._thread = threading.Thread(target=self._httpd.serve_forever,
                                        kwargs={"poll_interval": 0.05}, daemon=True)

    @property
    def url(self) -> str:
        host, port = self._httpd.server_address[:2]
        return f"http://{host!s}:{port}"

    def _next(self, method: str, path: str, headers: dict[str, str]) -> Reply:
        with self._lock:
            self.received.append(Received(time.monotonic(), method, path, headers))
            return self._script.popleft() if self._script else self._default

    def answer(self, reply: Reply) -> None:
        """From now on answer every request with ``reply``."""
        with self._lock:
            self._default = reply
            self._script.clear()

    def script(self, *replies: Reply, then: Reply | None = None) -> None:
        with self._lock:
            self._script = deque(replies)
            if then is not None:
                self._default = then

    @property
    def count(self) -> int:
        with self._lock:
            return len(self.received)

    def start(self) -> ScriptedServer:
        self._thread.start()
        return self

    def stop(self) -> None:
        self._httpd.shutdown()
        self._httpd.server_close()


@pytest.fixture(scope="session")
def _server_process() -> Iterator[ScriptedServer]:
    server = ScriptedServer().start()
    yield server
    server.stop()


@pytest.fixture
def server(_server_process: ScriptedServer) -> ScriptedServer:
    _server_process.answer(Reply())
    with _server_process._lock:
        _server_process.received.clear()
    return _server_process


@pytest.fixture
def session() -> Iterator[requests.Session]:
    s = build_session(connect_timeout=1, read_timeout=3)
    yield s
    s.close()


def fetch(session: requests.Session, url: str, method: str = "GET") -> dict | None:
    """What an adapter does with a source's answer: map it onto the contract's errors."""
    try:
        response = session.request(method, url)
    except (requests.ConnectionError, requests.Timeout) as exc:
        raise SourceUnavailable(f"{url} did not answer: {exc}") from exc
    if response.status_code == 404:
        return None
    if response.status_code == 429:
        wait = parse_retry_after(response.headers.get("Retry-After"))
        raise SourceRateLimited(f"{url} rate limited us", retry_after_seconds=wait or 1.0)
    if response.status_code in (401, 403):
        raise SourceAuthError(f"{url} refused our credentials ({response.status_code})")
    if response.status_code >= 500:
        raise SourceUnavailable(f"{url} answered {response.status_code}")
    return response.json()


@pytest.fixture
def redis_client() -> Iterator[redis.Redis]:
    client = redis.Redis.from_url(settings.REDIS_URL)
    yield client
    client.close()


@pytest.fixture
def connection_name(redis_client: redis.Redis) -> Iterator[str]:
    """A connection name no other test uses; its breaker keys are removed afterwards."""
    name = f"conn-{uuid.uuid4().hex[:10]}"
    yield name
    keys = list(redis_client.scan_iter(match=f"breaker:*:{name}:*"))
    if keys:
        redis_client.delete(*keys)
    reset_breakers()
