"""The outbox relay thread of the Celery worker.

The relay runs in a thread started by a worker bootstep (``OutboxRelayStep``), not as a
beat task every second: the thread keeps one producer and its connections for the
worker's life, sends a committed event within ``OUTBOX_RELAY_IDLE_MS`` instead of up to a
second later, backs off by itself while Kafka is down, and neither waits behind ordinary
tasks in the queue nor floods it. Every worker may run one: a tenant is relayed by one
relay at a time (see ``relay._lock_schema``), so more workers spread the tenants.
"""

from __future__ import annotations

import threading
import time
from dataclasses import dataclass
from typing import Any

from celery import bootsteps
from django.conf import settings
from django.db import DatabaseError, connection

from apps.events import relay
from dictamesh.events.gc_policy import tune_for_streaming
from dictamesh.events.producer import EventProducer
from dictamesh.observability.logging import get_logger

logger = get_logger(__name__)

METRICS_INTERVAL_SECONDS = 15.0  # about one Prometheus scrape
STOP_TIMEOUT_SECONDS = 10.0


@dataclass
class Backoff:
    """Doubling waits from ``initial`` up to ``cap`` seconds; ``reset`` after a success."""

    initial: float = 0.5
    cap: float = 30.0
    current: float = 0.0

    def next(self) -> float:
        self.current = min(self.cap, self.current * 2 or self.initial)
        return self.current

    def reset(self) -> None:
        self.current = 0.0


class RelayRunner:
    """Relays every tenant's outbox until stopped; survives Kafka and database outages."""

    def __init__(self, producer: EventProducer, batch_size: int, idle_seconds: float) -> None:
        self.producer = producer
        self.batch_size = batch_size
        self.idle_seconds = idle_seconds
        self._outage = Backoff()
        # A tenant whose batch failed while Kafka was up (e.g. a missing topic) waits on its
        # own schedule, so it does not slow the others down by a timeout on every pass.
        self._tenant_backoff: dict[str, Backoff] = {}
        self._tenant_retry_at: dict[str, float] = {}
        self._metrics_due = 0.0

    @classmethod
    def from_settings(cls, **producer_overrides: Any) -> RelayRunner:
        return cls(EventProducer.from_settings(**producer_overrides),
                   batch_size=settings.OUTBOX_RELAY_BATCH_SIZE,
                   idle_seconds=settings.OUTBOX_RELAY_IDLE_MS / 1000)

    def run(self, stop: threading.Event) -> None:
        tune_for_streaming()  # as the consumers do: a long-lived loop over many objects
        try:
            while not stop.is_set():
                stop.wait(self.run_once())
        finally:
            self.producer.close(timeout=5)
            connection.close()  # this thread's own connection

    def run_once(self) -> float:
        """One pass over the tenants; returns how long to wait before the next."""
        now = time.monotonic()
        try:
            if now >= self._metrics_due:
                relay.update_backlog_metrics()
                self._metrics_due = now + METRICS_INTERVAL_SECONDS
            waiting = {s for s, at in self._tenant_retry_at.items() if at > now}
            results = relay.relay_all_tenants(self.producer, self.batch_size, skip=waiting)
        except DatabaseError as exc:
            connection.close()  # reconnect on the next pass
            delay = self._outage.next()
            logger.warning("outbox relay: database error", error=str(exc), retry_in=delay)
            return delay
        except Exception:  # noqa: BLE001 - the relay must outlive any one bad pass
            delay = self._outage.next()
            logger.exception("outbox relay: pass failed", retry_in=delay)
            return delay
        if any(r.unreachable for r in results):
            delay = self._outage.next()
            logger.warning("outbox relay: Kafka unreachable; events wait in the outbox",
                           error=results[-1].error, retry_in=delay)
            return delay
        self._outage.reset()
        for result in results:
            self._note(result, now)
        busy = any(r.selected == self.batch_size and not r.error for r in results)
        return 0.0 if busy else self.idle_seconds

    def _note(self, result: relay.RelayResult, now: float) -> None:
        if not result.error:
            self._tenant_backoff.pop(result.schema, None)
            self._tenant_retry_at.pop(result.schema, None)
            return
        delay = self._tenant_backoff.setdefault(result.schema, Backoff(cap=60.0)).next()
        self._tenant_retry_at[result.schema] = now + delay
        logger.warning("outbox relay: send failed", tenant=result.schema, error=result.error,
                       sent=result.sent, failed=result.failed, retry_in=delay)


class OutboxRelayStep(bootsteps.StartStopStep):
    """Runs a RelayRunner in a thread of the worker's main process."""

    label = "Outbox relay"
    # Start after the pool has forked: children must not inherit this thread's connections.
    requires = ("celery.worker.components:Pool",)

    def __init__(self, parent: Any, **kwargs: Any) -> None:
        super().__init__(parent, **kwargs)
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None

    def include_if(self, parent: Any) -> bool:
        return bool(settings.OUTBOX_RELAY_ENABLED)

    def start(self, parent: Any) -> None:
        self._stop.clear()
        self._thread = threading.Thread(target=RelayRunner.from_settings().run,
                                        args=(self._stop,), name="outbox-relay", daemon=True)
        self._thread.start()

    def stop(self, parent: Any) -> None:
        self._stop.set()
        if self._thread is not None:
            self._thread.join(STOP_TIMEOUT_SECONDS)
            self._thread = None

    terminate = stop
