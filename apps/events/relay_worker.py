"""The outbox relay thread of the Celery worker.

The relay runs in a thread started by a worker bootstep (``OutboxRelayStep``), not as a
beat task every second: the thread keeps one producer and its connections for the
worker's life, backs off by itself while Kafka is down, and neither waits behind ordinary
tasks in the queue nor floods it. Every worker may run one: a tenant is relayed by one
relay at a time (see ``relay._lock_schema``), so more workers spread the tenants.

It is woken by commits rather than a timer: outbox writes NOTIFY their tenant at commit
and the thread waits on its own LISTEN connection (``relay_listener``), then relays the
notified tenants at once, plus those whose last batch was full. Polling every tenant
every ``OUTBOX_RELAY_IDLE_MS`` (200 ms) made each event wait 0-200 ms for the next pass
(~100 ms of the subscriptions' ~450 ms write -> socket p50, bench/bench_subscriptions.py)
and made an idle relay over 1,000 tenants run ~5,000 transactions a second for nothing.
A full pass over every tenant still runs every ``OUTBOX_RELAY_FULL_PASS_MS`` (5 s), at
start and after the listener reconnects: the safety net for rows no notification
announced (written before the relay listened, by raw SQL, or of a tenant in backoff).
While the listener cannot connect, full passes run every ``OUTBOX_RELAY_IDLE_MS``, as
before.

Measured on the shared 2-core machine, polling -> notified, interleaved runs in one sitting
(load average 2.4-3.2): bench/bench_subscriptions.py (50 sockets, 40 writes, 5 rounds each)
write -> subscriber p50 221-229 -> 87-182 ms (medians 223 -> 123), and the run's CPU
(bench, server and worker, user + sys) 11.2-12.1 -> 9.7-11.6 s; an idle relay over 200
tenants 500-526 -> 81 transactions/s, 26-27% -> 2.3% of a core (what remains: the full
pass every 5 s and the backlog metrics every 15 s).
"""

from __future__ import annotations

import threading
import time
from typing import Any

from celery import bootsteps
from django.conf import settings
from django.db import DatabaseError, connection

from apps.events import relay
from apps.events.backoff import Backoff
from apps.events.outbox import RELAY_CHANNEL
from apps.events.relay_listener import RelayListener
from apps.tenancy.services import tenant_schemas
from dictamesh.events.gc_policy import tune_for_streaming
from dictamesh.events.producer import EventProducer
from dictamesh.observability.logging import get_logger

logger = get_logger(__name__)

METRICS_INTERVAL_SECONDS = 15.0  # about one Prometheus scrape
STOP_TIMEOUT_SECONDS = 10.0


class RelayRunner:
    """Relays the tenants' outboxes until stopped; survives Kafka and database outages."""

    def __init__(self, producer: EventProducer, batch_size: int, idle_seconds: float,
                 full_pass_seconds: float = 5.0, listener: RelayListener | None = None
                 ) -> None:
        self.producer = producer
        self.batch_size = batch_size
        self.idle_seconds = idle_seconds  # between full passes while not listening
        self.full_pass_seconds = full_pass_seconds
        self.listener = listener or RelayListener(RELAY_CHANNEL)
        self._outage = Backoff()
        # A tenant whose batch failed while Kafka was up (e.g. a missing topic) waits on its
        # own schedule, so it does not slow the others down by a timeout on every pass.
        self._tenant_backoff: dict[str, Backoff] = {}
        self._tenant_retry_at: dict[str, float] = {}
        self._metrics_due = 0.0
        self._full_pass_due = 0.0
        self._due: set[str] = set()  # notified, or their last batch was full
        self._known: frozenset[str] = frozenset()  # tenant schemas, as of the last full pass

    @classmethod
    def from_settings(cls, **producer_overrides: Any) -> RelayRunner:
        return cls(EventProducer.from_settings(**producer_overrides),
                   batch_size=settings.OUTBOX_RELAY_BATCH_SIZE,
                   idle_seconds=settings.OUTBOX_RELAY_IDLE_MS / 1000,
                   full_pass_seconds=settings.OUTBOX_RELAY_FULL_PASS_MS / 1000)

    def run(self, stop: threading.Event) -> None:
        tune_for_streaming()  # as the consumers do: a long-lived loop over many objects
        try:
            while not stop.is_set():
                delay = self.run_once()
                if delay > 0:
                    # In an outage the wait is a backoff: notifications are kept for after
                    # it, not a reason to try again sooner.
                    self._due |= self.listener.wait(delay, stop,
                                                    first_only=not self._outage.backing_off)
        finally:
            self.listener.close()
            self.producer.close(timeout=5)
            connection.close()  # this thread's own connection

    def run_once(self) -> float:
        """Relay what is due (every tenant on a full pass); return how long to wait at most
        for a notification before the next."""
        now = time.monotonic()
        if self.listener.connect_if_due(now):
            self._full_pass_due = now  # what was committed before we listened
        full_pass = now >= self._full_pass_due or not self.listener.listening
        try:
            if now >= self._metrics_due:
                relay.update_backlog_metrics()
                self._metrics_due = now + METRICS_INTERVAL_SECONDS
            waiting = {s for s, at in self._tenant_retry_at.items() if at > now}
            schemas = self._all_tenants() if full_pass else self._due_tenants(now)
            results = relay.relay_tenants(self.producer, schemas, self.batch_size,
                                          skip=waiting)
        except DatabaseError as exc:
            connection.close()  # reconnect on the next pass
            delay = self._back_off()
            logger.warning("outbox relay: database error", error=str(exc), retry_in=delay)
            return delay
        except Exception:  # noqa: BLE001 - the relay must outlive any one bad pass
            delay = self._back_off()
            logger.exception("outbox relay: pass failed", retry_in=delay)
            return delay
        if any(r.unreachable for r in results):
            delay = self._back_off()
            logger.warning("outbox relay: Kafka unreachable; events wait in the outbox",
                           error=results[-1].error, retry_in=delay)
            return delay
        self._outage.reset()
        if full_pass:
            self._full_pass_due = now + self.full_pass_seconds
        for result in results:
            self._note(result, now)
        self._due = {r.schema for r in results if r.selected == self.batch_size
                     and not r.error}
        if self._due:
            return 0.0
        return self._idle_delay(now)

    def _all_tenants(self) -> list[str]:
        schemas = tenant_schemas()
        self._known = frozenset(schemas)
        for gone in self._tenant_retry_at.keys() - self._known:  # offboarded in backoff
            self._tenant_retry_at.pop(gone)
            self._tenant_backoff.pop(gone, None)
        return schemas

    def _due_tenants(self, now: float) -> list[str]:
        """The notified tenants and those whose backoff ended, if they are tenants: a
        notification's payload is whatever text a session passed to NOTIFY."""
        due = self._due | {s for s, at in self._tenant_retry_at.items() if at <= now}
        if not due <= self._known:  # a tenant onboarded since the last full pass
            self._known = frozenset(tenant_schemas())
        return sorted(due & self._known)

    def _idle_delay(self, now: float) -> float:
        if not self.listener.listening:
            return self.idle_seconds
        wake_at = min([self._full_pass_due,
                       *(at for at in self._tenant_retry_at.values() if at > now)])
        return max(0.0, wake_at - now)

    def _back_off(self) -> float:
        """The outage's next wait; the try after it is a full pass, as the failed one may
        have stopped before some tenants (or notified ones)."""
        self._full_pass_due = 0.0
        return self._outage.next()

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
