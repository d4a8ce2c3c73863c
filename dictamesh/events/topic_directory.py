"""The cluster's topic names, for consumers that subscribe to an explicit list of topics.

A pattern subscription makes kafka-python ask for the metadata of every topic of the
cluster (all their partitions) at each refresh, and parse the answer on the consumer's own
network thread: with ~6,000 topics that parse ran longer than the session timeout, the
member missed its heartbeats and the group never settled (docs/scale.md). A consumer given
a list of topics asks only for those. This directory lists the cluster's topic names on a
thread and client of its own, every ``max_age_ms`` or sooner when asked (``refresh``), so
no listing ever holds up a consumer's heartbeats; each runner keeps the names its routes
match (``matching_topics``) and subscribes again when they change.

One directory per process and cluster (``shared_directory``): the worker's consumer groups
share its listings instead of each paying for its own.
"""

from __future__ import annotations

import re
import threading
import time
from collections.abc import Iterable, Sequence
from contextlib import suppress
from dataclasses import dataclass

from kafka import KafkaAdminClient
from kafka.errors import KafkaTimeoutError

from dictamesh.events.kafka_clients import open_admin_client
from dictamesh.events.kafka_config import KafkaConnection
from dictamesh.observability.logging import get_logger

log = get_logger(__name__)

_RETRY_SECONDS = 2.0  # after a failed listing: the broker may be restarting
_REQUEST_TIMEOUT_MS = 120_000  # a full listing of a large cluster takes seconds to parse
# A bootstrap cannot be interrupted: this bounds how long a directory closed during an
# outage keeps its thread (kafka-python's default is 30 s). Retried after _RETRY_SECONDS.
_BOOTSTRAP_TIMEOUT_MS = 10_000


@dataclass(frozen=True)
class Listing:
    """The cluster's topic names, as one metadata request found them."""

    names: frozenset[str]
    asked_at: float  # time.monotonic() when the request was sent
    seconds: float  # how long the request and its parse took


def matching_topics(names: Iterable[str], subscription: re.Pattern[str]) -> frozenset[str]:
    """The names ``subscription`` matches (the regex the runner used to subscribe with)."""
    return frozenset(name for name in names if subscription.match(name))


class TopicDirectory:
    """Lists the cluster's topic names in a background thread (started by the first ask)."""

    def __init__(self, bootstrap_servers: Sequence[str], *, max_age_ms: int) -> None:
        if max_age_ms < 1:
            raise ValueError("The topic directory's max age must be positive.")
        self._servers = list(bootstrap_servers)
        self._max_age = max_age_ms / 1000
        self._latest: Listing | None = None
        self._changed = threading.Condition()
        self._wanted = threading.Event()  # a listing is wanted before max_age runs out
        self._closed = False
        self._thread: threading.Thread | None = None

    def refresh(self) -> None:
        """Ask for a new listing now (e.g. after a tenant's topics were created)."""
        self._start()
        self._wanted.set()

    def latest(self) -> Listing | None:
        """The newest listing, without waiting (None before the first)."""
        self._start()
        return self._latest

    def listing(self, *, newer_than: float, timeout_seconds: float) -> Listing:
        """A listing asked for at ``newer_than`` (a time.monotonic()) or later: waits for
        one, asking for it now. KafkaTimeoutError if none comes in time."""
        self.refresh()
        deadline = time.monotonic() + timeout_seconds
        with self._changed:
            while self._latest is None or self._latest.asked_at < newer_than:
                remaining = deadline - time.monotonic()
                if remaining <= 0:
                    raise KafkaTimeoutError(
                        f"No topic listing from {','.join(self._servers)} within "
                        f"{timeout_seconds:.0f} s.")
                self._changed.wait(remaining)
            return self._latest

    def close(self, wait_seconds: float = 0) -> None:
        """Stop listing once the request under way, if any, is over, waiting up to
        ``wait_seconds`` for the thread to close its client."""
        with self._changed:
            self._closed = True
            thread = self._thread
        self._wanted.set()
        if thread is not None and wait_seconds > 0:
            thread.join(wait_seconds)

    def _start(self) -> None:
        with self._changed:
            if self._closed:
                raise RuntimeError("This topic directory is closed.")
            if self._thread is None:
                self._wanted.set()  # the first listing, at once
                self._thread = threading.Thread(target=self._run, name="kafka-topic-directory",
                                                daemon=True)
                self._thread.start()

    def _run(self) -> None:
        admin: KafkaAdminClient | None = None
        while True:
            self._wanted.wait(self._max_age)
            self._wanted.clear()
            if self._closed:
                if admin is not None:
                    admin.close()
                return
            asked_at = time.monotonic()
            try:
                if admin is None:
                    admin = open_admin_client(
                        KafkaConnection.from_settings(self._servers),
                        "dictamesh-topic-directory", request_timeout_ms=_REQUEST_TIMEOUT_MS,
                        bootstrap_timeout_ms=_BOOTSTRAP_TIMEOUT_MS)
                names = frozenset(admin.list_topics())
            # Whatever failed, the thread lives on: every runner of the process waits on it.
            except Exception as exc:  # noqa: BLE001 - logged, retried
                log.warning("could not list the cluster's topics; retrying", error=str(exc))
                if admin is not None:
                    with suppress(Exception):  # a client that failed may fail to close
                        admin.close()
                    admin = None
                time.sleep(_RETRY_SECONDS)
                self._wanted.set()
                continue
            listing = Listing(names, asked_at, time.monotonic() - asked_at)
            with self._changed:
                self._latest = listing
                self._changed.notify_all()


_shared: dict[tuple[tuple[str, ...], int], TopicDirectory] = {}
_shared_lock = threading.Lock()


def shared_directory(bootstrap_servers: Sequence[str], *, max_age_ms: int) -> TopicDirectory:
    """The process' directory for this cluster and max age."""
    key = (tuple(bootstrap_servers), max_age_ms)
    with _shared_lock:
        if key not in _shared:
            _shared[key] = TopicDirectory(bootstrap_servers, max_age_ms=max_age_ms)
        return _shared[key]


def close_shared_directories(wait_seconds: float = 5) -> None:
    """Close and forget the process' directories; the next ``shared_directory`` call starts
    a new one. For a process that winds down, or a test suite that wants no Kafka client to
    outlive the tests that used it (their IO threads keep refreshing metadata)."""
    with _shared_lock:
        directories = list(_shared.values())
        _shared.clear()
    for directory in directories:
        directory.close(wait_seconds)
