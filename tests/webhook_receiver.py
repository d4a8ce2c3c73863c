"""A tiny HTTP server standing in for the platform's webhook endpoint in tests."""

from __future__ import annotations

import json
import queue
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any


class WebhookReceiver:
    """Records every POST (headers, JSON body) and answers ``status`` after ``delay_s``."""

    def __init__(self, status: int = 200, delay_s: float = 0.0) -> None:
        self.received: queue.Queue[tuple[dict[str, str], dict[str, Any]]] = queue.Queue()
        received = self.received

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:  # noqa: N802 - the name BaseHTTPRequestHandler calls
                body = self.rfile.read(int(self.headers["Content-Length"]))
                time.sleep(delay_s)
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
        return self.received.get(timeout=5)

    def close(self) -> None:
        self.server.shutdown()
        self.server.server_close()
