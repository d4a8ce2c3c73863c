"""A tiny HTTP server standing in for the platform's webhook endpoint in tests."""

from __future__ import annotations

import json
import queue
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

# Generous: on a busy machine a delivery can take seconds; a healthy run never waits this long.
WAIT_SECONDS = 30


class WebhookReceiver:
    """Records every POST (headers, JSON body) and answers ``status``.

    With ``hold=True`` each request waits, after it is recorded as ``arrived``, until the test
    calls ``release()``: a slow target whose slowness the test controls, with no sleeps.
    """

    def __init__(self, status: int = 200, hold: bool = False) -> None:
        self.received: queue.Queue[tuple[dict[str, str], dict[str, Any]]] = queue.Queue()
        self.arrived = threading.Event()
        self._released = threading.Event()
        if not hold:
            self._released.set()
        received, arrived, released = self.received, self.arrived, self._released

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:  # noqa: N802 - the name BaseHTTPRequestHandler calls
                body = self.rfile.read(int(self.headers["Content-Length"]))
                arrived.set()
                released.wait(WAIT_SECONDS)
                received.put((dict(self.headers), json.loads(body)))
                self.send_response(status)
                if status != 204:  # a 204 carries no body, so no length either
                    self.send_header("Content-Length", "0")
                self.end_headers()

            def log_message(self, *args: object) -> None:
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}/hook"
        threading.Thread(target=self.server.serve_forever, kwargs={"poll_interval": 0.05},
                         daemon=True).start()

    def next(self) -> tuple[dict[str, str], dict[str, Any]]:
        try:
            return self.received.get(timeout=WAIT_SECONDS)
        except queue.Empty:
            raise AssertionError(f"no webhook arrived within {WAIT_SECONDS}s") from None

    def release(self) -> None:
        """Let held requests (and every later one) be answered."""
        self._released.set()

    def close(self) -> None:
        self.release()
        self.server.shutdown()
        self.server.server_close()
