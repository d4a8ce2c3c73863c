"""HTTP plumbing shared by the reference servers: requests, responses, routes, the listener.

Standard library only. The listener speaks HTTP/1.1 with keep-alive, since adapters use
`requests.Session` connection pools, and it tracks open connections so that `stop()` really
closes them (idle keep-alive threads would otherwise keep answering after a stop).
"""

from __future__ import annotations

import hashlib
import json
import logging
import re
import socket
import socketserver
import sys
import threading
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from http import HTTPStatus
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any, Protocol
from urllib.parse import parse_qs, unquote, urlsplit

logger = logging.getLogger(__name__)

JSON_TYPE = "application/json; charset=utf-8"


class BadRequestBody(ValueError):
    """The body is not the JSON the endpoint needs; each server words the error its way."""


@dataclass(frozen=True)
class Request:
    method: str
    path: str
    query: Mapping[str, list[str]]
    headers: Mapping[str, str]
    body: bytes
    client: str

    def param(self, name: str) -> str | None:
        """The last value of a query parameter, as most web frameworks read repeated keys."""
        values = self.query.get(name)
        return values[-1] if values else None

    def header(self, name: str) -> str | None:
        return self.headers.get(name.lower())

    def json(self) -> Any:
        if not self.body:
            raise BadRequestBody("the request has no body")
        try:
            return json.loads(self.body)
        except (UnicodeDecodeError, json.JSONDecodeError) as exc:
            raise BadRequestBody(f"the body is not valid JSON ({exc})") from None

    def bearer_token(self) -> str | None:
        scheme, _, token = (self.header("authorization") or "").partition(" ")
        if scheme.lower() != "bearer":
            return None
        return token.strip() or None


@dataclass
class Response:
    status: int
    body: bytes = b""
    headers: dict[str, str] = field(default_factory=dict)


def json_response(status: int, payload: Any, headers: Mapping[str, str] | None = None) -> Response:
    body = json.dumps(payload, separators=(",", ":")).encode()
    return Response(status, body, {"Content-Type": JSON_TYPE, **(headers or {})})


def with_etag(request: Request, response: Response) -> Response:
    """Add a strong ETag to a 200; answer 304 when `If-None-Match` already names it."""
    if response.status != HTTPStatus.OK:
        return response
    etag = '"' + hashlib.sha256(response.body).hexdigest()[:32] + '"'
    response.headers["ETag"] = etag
    wanted = {tag.strip().removeprefix("W/") for tag in (request.header("if-none-match") or "")
              .split(",")}
    if etag in wanted or "*" in wanted:
        return Response(HTTPStatus.NOT_MODIFIED, headers={"ETag": etag})
    return response


Handler = Callable[..., Response]


@dataclass(frozen=True)
class Route:
    method: str
    pattern: re.Pattern[str]
    handler: Handler
    public: bool = False
    write: str | None = None


def route(method: str, pattern: str, handler: Handler, *, public: bool = False,
          write: str | None = None) -> Route:
    """A route whose pattern's named groups arrive as keyword arguments (URL-decoded).

    A public route answers without credentials. A write route is named (`write`, the
    adapter command it serves) so tests can fault it alone (see `endpoint_faults.py`).
    """
    return Route(method, re.compile(pattern), handler, public, write)


def resolve(routes: list[Route], method: str, path: str) -> tuple[Route, dict[str, str]] | int:
    """The matching route and its arguments, or 404/405 when no route fits."""
    allowed = False
    for candidate in routes:
        match = candidate.pattern.fullmatch(path)
        if match is None:
            continue
        if candidate.method == method:
            return candidate, {k: unquote(v) for k, v in match.groupdict().items()}
        allowed = True
    return HTTPStatus.METHOD_NOT_ALLOWED if allowed else HTTPStatus.NOT_FOUND


class App(Protocol):
    def dispatch(self, request: Request) -> Response | None: ...


class Listener(ThreadingHTTPServer):
    """A threaded HTTP server that can close every connection it holds."""

    daemon_threads = True
    # socketserver's listen backlog is 5: when a worker's 20 threads connect at once on a busy
    # machine, the accept loop falls behind, the kernel drops the extra SYNs and the clients'
    # retransmits (1 s, then 3 s) outlast the adapters' 2 s connect timeout. Real servers
    # listen with a far longer queue (Node.js and nginx: 511).
    request_queue_size = 128

    def __init__(self, address: tuple[str, int], app: App) -> None:
        self.app = app
        self._connections: set[socket.socket] = set()
        self._connections_lock = threading.Lock()
        super().__init__(address, _Handler)

    def server_bind(self) -> None:
        # HTTPServer.server_bind resolves the host's FQDN, a DNS lookup that can stall for
        # seconds on machines without a resolver; the name is never used here.
        socketserver.TCPServer.server_bind(self)
        host, port = self.server_address[:2]
        self.server_name, self.server_port = str(host), int(port)

    def process_request(self, request: Any, client_address: Any) -> None:
        with self._connections_lock:
            self._connections.add(request)
        super().process_request(request, client_address)

    def shutdown_request(self, request: Any) -> None:
        with self._connections_lock:
            self._connections.discard(request)
        super().shutdown_request(request)

    def handle_error(self, request: Any, client_address: Any) -> None:
        # Clients that time out and hang up are routine under the latency fault: no traceback.
        if isinstance(sys.exc_info()[1], ConnectionError):
            logger.debug("client %s hung up", client_address)
        else:
            logger.exception("error serving %s", client_address)

    def close_connections(self) -> None:
        with self._connections_lock:
            connections = list(self._connections)
        for connection in connections:
            try:
                connection.shutdown(socket.SHUT_RDWR)
            except OSError:
                logger.debug("connection already closed", exc_info=True)


class _Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    server: Listener
    # An idle keep-alive connection is closed after this many seconds.
    timeout = 30
    # Headers and body go out in two writes; with Nagle's algorithm the body then waits for
    # the client's delayed ACK, about 40 ms per response.
    disable_nagle_algorithm = True

    def do_GET(self) -> None:  # noqa: N802 - the name BaseHTTPRequestHandler looks up
        self._serve()

    do_POST = do_PATCH = do_PUT = do_DELETE = do_GET  # noqa: N815

    def _serve(self) -> None:
        try:
            length = int(self.headers.get("Content-Length") or 0)
        except ValueError:
            self.send_error(HTTPStatus.BAD_REQUEST, "Invalid Content-Length")
            return
        body = self.rfile.read(length) if length > 0 else b""
        target = urlsplit(self.path)
        request = Request(
            method=self.command,
            path=target.path,  # still percent-encoded; route arguments are decoded one by one
            query=parse_qs(target.query, keep_blank_values=True),
            headers={k.lower(): v for k, v in self.headers.items()},
            body=body,
            client=self.client_address[0],
        )
        response = self.server.app.dispatch(request)
        if response is None:
            # The "down" fault: close without a byte of response, as a crashed peer would.
            self.close_connection = True
            return
        self._write(response)

    def _write(self, response: Response) -> None:
        self.send_response(response.status)
        for name, value in response.headers.items():
            self.send_header(name, value)
        if response.status not in (HTTPStatus.NO_CONTENT, HTTPStatus.NOT_MODIFIED):
            self.send_header("Content-Length", str(len(response.body)))
        self.end_headers()
        if response.body and response.status not in (HTTPStatus.NO_CONTENT,
                                                      HTTPStatus.NOT_MODIFIED):
            self.wfile.write(response.body)

    def log_message(self, format: str, *args: Any) -> None:  # noqa: A002 - the base's name
        logger.debug("%s %s", self.address_string(), format % args)
