"""The relay's LISTEN connection: which tenants committed new outbox rows.

Outbox writes ``pg_notify`` the tenant's schema in their transaction (``outbox.notify_relay``),
so the relay can sleep on this connection and wake when a commit concerns it, instead of
polling every tenant's outbox: an event waited 0-200 ms for the next poll, and an idle
relay over 1,000 tenants ran ~5,000 transactions a second for nothing.

The connection is a plain psycopg one in autocommit (a LISTEN inside a transaction takes
effect only at its commit), not Django's: it is held for the worker's life and used by
nothing else, and only this thread reads it. Notifications are not stored by PostgreSQL
for a listener that is not connected: whatever was committed while this connection was
down (or before the relay started) is found by the relay's full pass, which it runs at
once after each (re)connect and on a timer. PgBouncer in session mode (the shipped
``deploy/pgbouncer``) keeps a LISTEN working; transaction pooling would not.
"""

from __future__ import annotations

import threading
import time
from contextlib import suppress
from typing import Any

import psycopg
from django.db import connection
from psycopg import sql

from apps.events.backoff import Backoff
from dictamesh.observability.logging import get_logger

logger = get_logger(__name__)

# ``Connection.notifies`` holds the connection's lock while it waits, so no other thread can
# wake it through this connection: the wait is cut into slices of this length to see the
# stop event. A slice that ends with nothing received does no database work (psycopg itself
# polls the socket every 0.1 s inside one).
STOP_CHECK_SECONDS = 0.25


class RelayListener:
    """LISTENs on ``channel``; reconnects with backoff after the connection is lost."""

    def __init__(self, channel: str, reconnect: Backoff | None = None,
                 connect_params: dict[str, Any] | None = None) -> None:
        self.channel = channel
        # By default Django's parameters for the thread's connection: the same database and
        # credentials, and its connect_timeout.
        self._connect_params = connect_params
        self._reconnect = reconnect or Backoff(initial=0.5, cap=30.0)
        self._connection: psycopg.Connection[tuple[object, ...]] | None = None
        self._retry_at = 0.0

    @property
    def listening(self) -> bool:
        return self._connection is not None

    @property
    def backend_pid(self) -> int | None:
        """The server process of the LISTEN connection (for ``pg_terminate_backend``)."""
        return self._connection.info.backend_pid if self._connection is not None else None

    def connect_if_due(self, now: float) -> bool:
        """Connect and LISTEN unless listening already or waiting to retry; True when a new
        connection started listening (notifications before it were missed)."""
        if self._connection is not None or now < self._retry_at:
            return False
        try:
            params = self._connect_params or connection.get_connection_params()
            self._connection = psycopg.connect(**params, autocommit=True)
            self._connection.execute(
                sql.SQL("LISTEN {}").format(sql.Identifier(self.channel)))
        except psycopg.Error as exc:
            self._drop()
            delay = self._reconnect.next()
            self._retry_at = now + delay
            logger.warning("outbox relay: cannot listen; polling every tenant meanwhile",
                           error=str(exc), retry_in=delay)
            return False
        self._reconnect.reset()
        return True

    def wait(self, seconds: float, stop: threading.Event, *, first_only: bool = True
             ) -> set[str]:
        """The payloads (tenant schemas) notified within ``seconds``; with ``first_only``,
        returns as soon as any arrives. Returns early when ``stop`` is set or the
        connection is lost (then it is dropped, to be reconnected by ``connect_if_due``)."""
        if self._connection is None:
            stop.wait(seconds)
            return set()
        received: set[str] = set()
        deadline = time.monotonic() + seconds
        try:
            while not stop.is_set():
                remaining = deadline - time.monotonic()
                if remaining <= 0:
                    break
                for notify in self._connection.notifies(
                        timeout=min(remaining, STOP_CHECK_SECONDS),
                        stop_after=1 if first_only else None):
                    received.add(notify.payload)
                if received and first_only:
                    # Others may be in the same packet or right behind: take them too.
                    received.update(n.payload for n in self._connection.notifies(timeout=0))
                    break
        except psycopg.Error as exc:
            self._drop()
            logger.warning("outbox relay: lost the LISTEN connection; polling every tenant "
                           "until it is back", error=str(exc))
        return received

    def close(self) -> None:
        self._drop()

    def _drop(self) -> None:
        if self._connection is not None:
            with suppress(psycopg.Error):  # lost already
                self._connection.close()
            self._connection = None
