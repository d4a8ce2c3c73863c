"""Outgoing webhooks, delivered from one background thread so no API request waits on them.

One thread keeps deliveries in the order the changes happened. Like a Directus Flow's
"Webhook / Request URL" operation, a delivery is tried once; a failure is logged and counted.
"""

from __future__ import annotations

import json
import logging
import queue
import threading
import urllib.error
import urllib.request
from dataclasses import dataclass
from typing import Any
from urllib.parse import urlsplit

logger = logging.getLogger(__name__)


@dataclass(frozen=True)
class WebhookTarget:
    url: str
    secret: str
    header: str
    timeout_s: float = 2.0

    def __post_init__(self) -> None:
        if urlsplit(self.url).scheme not in ("http", "https"):
            raise ValueError(f"webhook url must be http(s), got {self.url!r}")


class WebhookSender:
    def __init__(self, user_agent: str) -> None:
        self._user_agent = user_agent
        self._queue: queue.Queue[tuple[WebhookTarget, dict[str, Any]] | None] = queue.Queue()
        self._lock = threading.Lock()
        self.target: WebhookTarget | None = None
        self.delivered = self.failed = 0
        # Started on the first event, so a server that never sends one holds no thread.
        self._thread: threading.Thread | None = None

    def send(self, event: dict[str, Any]) -> None:
        """Queue `event` for the current target; without one, there is nothing to do."""
        target = self.target  # read once: a reconfiguration must not redirect this event
        if target is None:
            return
        with self._lock:
            if self._thread is None:
                self._thread = threading.Thread(target=self._run, name="reference-webhooks",
                                                daemon=True)
                self._thread.start()
        self._queue.put((target, event))

    def clear_counts(self) -> None:
        with self._lock:
            self.delivered = self.failed = 0

    def stats(self) -> dict[str, int]:
        with self._lock:
            return {"delivered": self.delivered, "failed": self.failed,
                    "pending": self._queue.qsize()}

    def close(self) -> None:
        with self._lock:
            thread, self._thread = self._thread, None
        if thread is not None:
            self._queue.put(None)
            thread.join(timeout=5)

    def _run(self) -> None:
        while (item := self._queue.get()) is not None:
            target, event = item
            ok = self._deliver(target, event)
            with self._lock:
                if ok:
                    self.delivered += 1
                else:
                    self.failed += 1

    def _deliver(self, target: WebhookTarget, event: dict[str, Any]) -> bool:
        request = urllib.request.Request(  # noqa: S310 - the scheme is checked in WebhookTarget
            target.url, data=json.dumps(event).encode(), method="POST",
            headers={"Content-Type": "application/json", "User-Agent": self._user_agent,
                     target.header: target.secret})
        try:
            with urllib.request.urlopen(request, timeout=target.timeout_s):  # noqa: S310
                return True
        except (urllib.error.URLError, OSError, ValueError) as exc:
            logger.warning("webhook to %s failed: %s", target.url, exc)
            return False
