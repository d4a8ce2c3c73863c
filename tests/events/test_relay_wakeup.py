"""The relay wakes on a commit's NOTIFY; its full pass sends what no notification announced.

Real PostgreSQL and broker. Each runner's timers are set far longer than the waits the
tests allow, so that a send within them proves the path under test, not a timer.
"""

from __future__ import annotations

import threading
import time
import uuid
from collections.abc import Iterator
from contextlib import contextmanager

from django.db import connection, transaction

from apps.events import outbox
from apps.events.models import OutboxMessage
from apps.events.outbox import RELAY_CHANNEL
from apps.events.relay_listener import RelayListener
from apps.events.relay_worker import RelayRunner
from dictamesh.tenancy import tenant_context
from tests.events.conftest import (
    consume_all,
    free_port,
    make_topics,
    quick_producer,
    unique_base_topic,
)

LONG = 30.0  # seconds: no timer of the runner under test fires within a test's waits


@contextmanager
def running(runner: RelayRunner) -> Iterator[RelayRunner]:
    """The runner in a thread; on exit it must stop within a second despite its timers."""
    stop = threading.Event()
    thread = threading.Thread(target=runner.run, args=(stop,), daemon=True)
    thread.start()
    try:
        yield runner
    finally:
        stop.set()
        thread.join(LONG)
    assert not thread.is_alive()


def _sent_within(tenant: str, event_id: uuid.UUID, seconds: float) -> float | None:
    """Seconds until the row of ``event_id`` was marked sent, None if not within ``seconds``."""
    started = time.monotonic()
    while time.monotonic() - started < seconds:
        with tenant_context(tenant):
            if OutboxMessage.objects.filter(event_id=event_id, sent_at__isnull=False).exists():
                return time.monotonic() - started
        time.sleep(0.02)
    return None


def _publish(tenant: str, base: str, value: bytes) -> uuid.UUID:
    with tenant_context(tenant), transaction.atomic():
        return outbox.publish(base, "c-1", value)


def _settled(runner: RelayRunner, tenant: str, base: str) -> None:
    """Past the runner's first full pass, idle and listening."""
    assert _sent_within(tenant, _publish(tenant, base, b"warm-up"), LONG) is not None
    deadline = time.monotonic() + LONG
    while not runner.listener.listening and time.monotonic() < deadline:
        time.sleep(0.05)
    assert runner.listener.listening
    time.sleep(0.3)  # let it go back to waiting


def _topic(kafka_bootstrap: str, tenant: str) -> str:
    base = unique_base_topic("wake")
    make_topics(kafka_bootstrap, [f"{tenant}.{base}"])
    return base


def test_a_commit_wakes_the_relay_long_before_any_timer(kafka_bootstrap, tenants_committed):
    tenant = tenants_committed[0].schema_name
    base = _topic(kafka_bootstrap, tenant)
    runner = RelayRunner(quick_producer(kafka_bootstrap), batch_size=50, idle_seconds=LONG,
                         full_pass_seconds=LONG)
    with running(runner):
        _settled(runner, tenant, base)
        for i in range(5):
            # Well within the runner's 30 s timers, with room for a busy machine.
            waited = _sent_within(tenant, _publish(tenant, base, f"woken {i}".encode()), 10.0)
            assert waited is not None, f"event {i} was not sent within 10 s"
    values = [r.value for r in consume_all(kafka_bootstrap, f"{tenant}.{base}", expected=6)]
    assert sorted(values) == sorted([b"warm-up", *(f"woken {i}".encode() for i in range(5))])


def test_a_rolled_back_publish_wakes_nothing_and_sends_nothing(kafka_bootstrap,
                                                                tenants_committed):
    tenant = tenants_committed[0].schema_name
    base = _topic(kafka_bootstrap, tenant)
    listener = RelayListener(RELAY_CHANNEL)
    assert listener.connect_if_due(time.monotonic())
    try:
        with tenant_context(tenant), transaction.atomic():
            outbox.publish(base, "c-1", b"never")
            transaction.set_rollback(True)
        assert listener.wait(0.5, threading.Event()) == set()
        with tenant_context(tenant), transaction.atomic():
            for i in range(3):  # one transaction: its identical notifications fold into one
                outbox.publish(base, "c-1", f"kept {i}".encode())
        raw = listener._connection  # noqa: SLF001 - to count them, not as the relay waits
        assert raw is not None
        assert [n.payload for n in raw.notifies(timeout=2.0)] == [tenant]
        with tenant_context(tenant), transaction.atomic():
            outbox.publish(base, "c-1", b"woken")
        assert listener.wait(5.0, threading.Event()) == {tenant}
    finally:
        listener.close()


def test_a_row_no_notification_announced_is_sent_by_the_full_pass(kafka_bootstrap,
                                                                  tenants_committed):
    tenant = tenants_committed[0].schema_name
    base = _topic(kafka_bootstrap, tenant)
    runner = RelayRunner(quick_producer(kafka_bootstrap), batch_size=50, idle_seconds=LONG,
                         full_pass_seconds=2.0)
    with running(runner):
        _settled(runner, tenant, base)
        event_id = uuid.uuid4()
        with tenant_context(tenant), connection.cursor() as cursor:  # as an admin would
            cursor.execute(
                "INSERT INTO event_outbox (event_id, topic, key, value, headers, created_at, "
                "attempts, last_error) VALUES (%s, %s, 'c-1', %s, '[]', now(), 0, '')",
                [event_id, f"{tenant}.{base}", b"unannounced"])
        waited = _sent_within(tenant, event_id, 10.0)
        assert runner.listener.listening  # it was the full pass, not a fallback to polling
    assert waited is not None, "the full pass did not send the row"


def test_the_relay_polls_while_it_cannot_listen(kafka_bootstrap, tenants_committed):
    """A listener that cannot connect (its database unreachable): full passes every
    ``idle_seconds`` meanwhile, as before notifications."""
    tenant = tenants_committed[0].schema_name
    base = _topic(kafka_bootstrap, tenant)
    unreachable = RelayListener(RELAY_CHANNEL, connect_params={
        "host": "127.0.0.1", "port": free_port(), "dbname": "none", "connect_timeout": 1})
    runner = RelayRunner(quick_producer(kafka_bootstrap), batch_size=50, idle_seconds=0.2,
                         full_pass_seconds=LONG, listener=unreachable)
    with running(runner):
        assert _sent_within(tenant, _publish(tenant, base, b"warm-up"), LONG) is not None
        waited = _sent_within(tenant, _publish(tenant, base, b"polled"), 5.0)
        assert not runner.listener.listening
    assert waited is not None


def test_the_listener_survives_its_connection_being_terminated(kafka_bootstrap,
                                                               tenants_committed):
    tenant = tenants_committed[0].schema_name
    base = _topic(kafka_bootstrap, tenant)
    runner = RelayRunner(quick_producer(kafka_bootstrap), batch_size=50, idle_seconds=0.2,
                         full_pass_seconds=LONG)
    with running(runner):
        _settled(runner, tenant, base)
        first_pid = runner.listener.backend_pid
        with connection.cursor() as cursor:
            cursor.execute("SELECT pg_terminate_backend(%s)", [first_pid])
            assert cursor.fetchone()[0]
        # Sent meanwhile: by a fallback pass, or the full pass after reconnecting.
        assert _sent_within(tenant, _publish(tenant, base, b"during"), 5.0) is not None
        deadline = time.monotonic() + 10
        while runner.listener.backend_pid in (None, first_pid) and time.monotonic() < deadline:
            time.sleep(0.05)
        assert runner.listener.backend_pid not in (None, first_pid)
        # From here a runner still polling would sleep far past the wait below; the 0.2 s
        # wait it may be in ends first. So only the new connection's notification can wake
        # it in time.
        runner.idle_seconds = LONG
        time.sleep(0.3)
        waited = _sent_within(tenant, _publish(tenant, base, b"after"), 10.0)
    assert waited is not None
    values = [r.value for r in consume_all(kafka_bootstrap, f"{tenant}.{base}", expected=3)]
    assert sorted(values) == [b"after", b"during", b"warm-up"]
