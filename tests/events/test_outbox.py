"""The transactional outbox, its relay and replay, on the real broker and database."""

from __future__ import annotations

import io
import json
import threading
import time
import uuid
from collections import defaultdict
from datetime import timedelta

import pytest
from django.core.management import CommandError, call_command
from django.db import connection, transaction
from django.utils import timezone
from opentelemetry.sdk.trace import TracerProvider
from prometheus_client import REGISTRY

from apps.catalog.schema_registry import services as registry
from apps.events import outbox, relay
from apps.events.models import OutboxMessage
from apps.events.relay_worker import RelayRunner
from apps.events.services import get_codec
from dictamesh.events.producer import EventProducer
from dictamesh.tenancy import tenant_context
from tests.events.conftest import (
    consume_all,
    make_topics,
    quick_producer,
    unique_base_topic,
)

TRACER = TracerProvider().get_tracer("tests")


def _traceparent(span) -> str:
    context = span.get_span_context()
    return f"00-{context.trace_id:032x}-{context.span_id:016x}-{context.trace_flags:02x}"


def _drain(producer: EventProducer, batch_size: int = 1000) -> int:
    """Relay the current tenant until nothing is left; the number of rows sent."""
    sent = 0
    while True:
        result = relay.relay_pending(producer, batch_size)
        assert not result.error, result.error
        sent += result.sent
        if result.selected < batch_size:
            return sent


def _wait_for(condition, timeout: float = 60.0, what: str = "condition"):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        value = condition()
        if value:
            return value
        time.sleep(0.2)
    raise AssertionError(f"timed out waiting for {what}")


# --- publish -------------------------------------------------------------------------------


def test_publish_refuses_the_public_schema(db):
    with pytest.raises(outbox.OutboxError, match="needs a tenant schema.*tenant_context"):
        outbox.publish("customers.directus.entity_changed", "c-1", b"x")


@pytest.mark.parametrize(
    ("topic", "key", "value", "message"),
    [
        ("customers.directus.entity_changed", "", b"x", "entity id as text"),
        ("customers.directus.entity_changed", 42, b"x", "entity id as text"),
        ("customers.directus.entity_changed", "c-1", {"a": 1}, "use publish_event"),
        ("customers.directus.entity_changed", "c-1", b"x" * 1_000_001, "exceeds Kafka's"),
        ("test_beta.customers.directus.entity_changed", "c-1", b"x",
         "belongs to tenant 'test_beta'"),
        ("customers.directus", "c-1", b"x", "does not follow"),
    ],
)
def test_publish_refuses_bad_events_and_stores_nothing(tenant_a, topic, key, value, message):
    with tenant_context(tenant_a.schema_name):
        with pytest.raises(ValueError if "follow" in message else outbox.OutboxError,
                           match=message):
            outbox.publish(topic, key, value)
        assert not OutboxMessage.objects.exists()


def test_publish_prefixes_the_tenant_and_carries_the_trace(tenant_a):
    with tenant_context(tenant_a.schema_name), TRACER.start_as_current_span("change") as span:
        event_id = outbox.publish("customers.directus.entity_changed", "c-1", b"\x00body",
                                  headers={"source": "directus"})
        row = OutboxMessage.objects.get()
    assert row.event_id == event_id
    assert row.topic == "test_alpha.customers.directus.entity_changed"
    assert (row.key, bytes(row.value), row.sent_at) == ("c-1", b"\x00body", None)
    assert dict(row.headers) == {
        "source": "directus",
        "traceparent": _traceparent(span),
    }


def _publish_then_fail() -> None:
    with transaction.atomic():
        outbox.publish("customers.directus.entity_changed", "c-1", b"lost")
        raise RuntimeError("the change failed")


def test_publish_in_a_rolled_back_transaction_leaves_nothing(tenant_a):
    with tenant_context(tenant_a.schema_name):
        with pytest.raises(RuntimeError, match="the change failed"):
            _publish_then_fail()
        assert not OutboxMessage.objects.exists()
        with transaction.atomic():
            outbox.publish("customers.directus.entity_changed", "c-2", b"kept")
        assert list(OutboxMessage.objects.values_list("key", flat=True)) == ["c-2"]


def test_publish_event_encodes_and_keeps_the_records_event_id(tenant_a):
    # The platform's own codec, on the real schema registry: the subject is the tenant's topic.
    schema = {"type": "record", "name": "Ping", "namespace": "test",
              "fields": [{"name": "event_id", "type": "string"}, {"name": "n", "type": "int"}]}
    record = {"event_id": str(uuid.uuid4()), "n": 7}
    with tenant_context(tenant_a.schema_name):
        event_id = outbox.publish_event("customers.directus.entity_changed", "c-1", schema,
                                        record)
        row = OutboxMessage.objects.get()
    assert str(event_id) == record["event_id"] == str(row.event_id)
    decoded = get_codec().decode(bytes(row.value))
    assert decoded.record == record
    subject = f"{tenant_a.schema_name}.customers.directus.entity_changed-value"
    assert registry.lookup(subject, json.dumps(schema)).id == decoded.schema_id


# --- relay ---------------------------------------------------------------------------------


def _relay_statements() -> dict[str, float]:
    return {name: REGISTRY.get_sample_value("postgres_query_duration_seconds_count",
                                            {"query": name}) or 0.0
            for name in ("outbox_pending_rows", "outbox_mark_sent")}


def test_relay_sends_in_order_per_key_and_marks_rows_sent(kafka_bootstrap, tenant_a, tenant_b):
    base = unique_base_topic()
    topic = f"{tenant_a.schema_name}.{base}"
    make_topics(kafka_bootstrap, [topic], partitions=4)
    keys = ["c-1", "c-2", "c-3"]
    with tenant_context(tenant_b.schema_name):
        outbox.publish(base, "other-tenant", b"not ours")
    with tenant_context(tenant_a.schema_name), TRACER.start_as_current_span("change") as span:
        for i in range(10):
            for key in keys:
                outbox.publish(base, key, f"{key}/{i}".encode())
    traceparent = _traceparent(span).encode()

    statements_before = _relay_statements()
    with tenant_context(tenant_a.schema_name), quick_producer(kafka_bootstrap) as producer:
        results = [relay.relay_pending(producer, batch_size=7) for _ in range(5)]
        assert [r.sent for r in results] == [7, 7, 7, 7, 2]
        # Its binary-cursor statements pass Django's query metrics by; they are named ones.
        assert _relay_statements() == {name: count + 5
                                       for name, count in statements_before.items()}
        batches = {name: REGISTRY.get_sample_value(f"kafka_producer_batch_size_{name}",
                                                   {"topic": topic}) for name in ("count", "sum")}
        assert batches == {"count": 5, "sum": 30}  # the specification's histogram
        assert not OutboxMessage.objects.filter(sent_at__isnull=True).exists()
        assert set(OutboxMessage.objects.values_list("attempts", flat=True)) == {0}
        assert relay.relay_pending(producer).selected == 0
    with tenant_context(tenant_b.schema_name):
        assert OutboxMessage.objects.get().sent_at is None  # another tenant's row

    records = consume_all(kafka_bootstrap, topic, expected=30)
    by_key = defaultdict(list)
    for record in records:
        by_key[record.key.decode()].append(record.value)
        # The change's trace continues through the relay's publish span (its own span id).
        version, trace_id, span_id, _ = dict(record.headers)["traceparent"].split(b"-")
        assert (version, trace_id) == tuple(traceparent.split(b"-")[:2])
        assert span_id != traceparent.split(b"-")[2]
    assert dict(by_key) == {key: [f"{key}/{i}".encode() for i in range(10)] for key in keys}


def test_each_change_in_a_batch_keeps_its_own_trace_and_headers(kafka_bootstrap, tenant_a):
    """The relay works out a change's headers once per batch, for all its rows: rows of
    other changes (another trace, other headers, none at all) in the same batch keep theirs."""
    base = unique_base_topic("traces")
    topic = f"{tenant_a.schema_name}.{base}"
    make_topics(kafka_bootstrap, [topic], partitions=1)
    traces = {}
    with tenant_context(tenant_a.schema_name):
        for change in ("first", "second"):
            with TRACER.start_as_current_span(change) as span:
                for i in range(3):
                    outbox.publish(base, change, f"{change}/{i}".encode(),
                                   headers={"change": change})
            traces[change] = _traceparent(span).split("-")[1]
        outbox.publish(base, "untraced", b"untraced/0", headers={"change": "none"})
        outbox.publish(base, "untraced", b"untraced/1")
        with quick_producer(kafka_bootstrap) as producer:
            assert relay.relay_pending(producer, batch_size=100).sent == 8

    records = consume_all(kafka_bootstrap, topic, expected=8)
    seen = {record.value.decode(): {name: value.decode() for name, value in record.headers}
            for record in records}
    for change in ("first", "second"):
        for i in range(3):
            headers = seen[f"{change}/{i}"]
            assert headers["change"] == change
            assert headers["traceparent"].split("-")[1] == traces[change]
    assert seen["untraced/0"] == {"change": "none"}
    assert seen["untraced/1"] == {}


def test_rows_written_while_kafka_is_down_are_delivered_once(spare_broker, tenant_a):
    base = unique_base_topic("down")
    topic = f"{tenant_a.schema_name}.{base}"
    spare_broker.stop()
    with tenant_context(tenant_a.schema_name), quick_producer(spare_broker.bootstrap) as producer:
        for i in range(20):
            outbox.publish(base, f"c-{i % 4}", f"event {i}".encode())

        down = relay.relay_pending(producer)
        assert down.unreachable
        assert down.sent == 0
        assert "Kafka at" in down.error
        rows = list(OutboxMessage.objects.all())
        assert len(rows) == 20
        assert all(r.sent_at is None and r.attempts == 1 and r.last_error for r in rows)

        spare_broker.start()  # empty: memory storage
        make_topics(spare_broker.bootstrap, [topic])
        assert _drain(producer) == 20
        assert not OutboxMessage.objects.filter(sent_at__isnull=True).exists()

    values = [r.value for r in consume_all(spare_broker.bootstrap, topic, expected=20)]
    assert sorted(values) == sorted(f"event {i}".encode() for i in range(20))


def test_the_relay_runner_outlives_a_kafka_outage(spare_broker, tenants_committed):
    """The worker's loop: sends, keeps going while Kafka is down, catches up once, exactly."""
    tenant = tenants_committed[0].schema_name
    base = unique_base_topic("runner")
    topic = f"{tenant}.{base}"
    make_topics(spare_broker.bootstrap, [topic])
    runner = RelayRunner(quick_producer(spare_broker.bootstrap), batch_size=50,
                         idle_seconds=0.05)
    stop = threading.Event()
    thread = threading.Thread(target=runner.run, args=(stop,), daemon=True)
    thread.start()

    def unsent():
        with tenant_context(tenant):
            return OutboxMessage.objects.filter(sent_at__isnull=True).count()

    try:
        with tenant_context(tenant):
            for i in range(10):
                outbox.publish(base, f"c-{i % 3}", f"before {i}".encode())
        _wait_for(lambda: unsent() == 0, what="the first events to be sent")

        spare_broker.stop()
        with tenant_context(tenant):
            for i in range(30):
                outbox.publish(base, f"c-{i % 3}", f"during {i}".encode())
            _wait_for(lambda: OutboxMessage.objects.filter(attempts__gt=0).exists(),
                      what="the relay to try (and fail) while Kafka is down")
        assert thread.is_alive()
        assert unsent() == 30

        spare_broker.start()  # a new, empty broker on the same port
        make_topics(spare_broker.bootstrap, [topic])
        _wait_for(lambda: unsent() == 0, what="the backlog to drain")
    finally:
        stop.set()
        thread.join(30)
    assert not thread.is_alive()

    values = [r.value for r in consume_all(spare_broker.bootstrap, topic, expected=30)]
    assert sorted(values) == sorted(f"during {i}".encode() for i in range(30))


def test_a_tenant_without_tables_does_not_stop_the_others(kafka_bootstrap, tenant_a):
    from apps.tenancy.models import Tenant

    Tenant.objects.bulk_create([Tenant(schema_name="aa_unmigrated", name="no schema")])
    base = unique_base_topic()
    make_topics(kafka_bootstrap, [f"{tenant_a.schema_name}.{base}"])
    with tenant_context(tenant_a.schema_name):
        outbox.publish(base, "c-1", b"x")
    with quick_producer(kafka_bootstrap) as producer:
        results = {r.schema: r for r in relay.relay_all_tenants(producer)}
    assert "is not ready" in results["aa_unmigrated"].error
    assert results[tenant_a.schema_name].sent == 1


@pytest.mark.worker_services
def test_the_celery_worker_runs_the_relay(kafka_bootstrap, celery_worker, tenants_committed):
    tenant = tenants_committed[0].schema_name
    base = unique_base_topic("worker")
    make_topics(kafka_bootstrap, [f"{tenant}.{base}"])
    with tenant_context(tenant):
        outbox.publish(base, "c-1", b"via the worker")
        _wait_for(lambda: OutboxMessage.objects.filter(sent_at__isnull=False).exists(),
                  timeout=30, what="the worker's relay to send the event")
    [record] = consume_all(kafka_bootstrap, f"{tenant}.{base}", expected=1)
    assert record.value == b"via the worker"


def test_a_second_relay_skips_a_tenant_being_relayed(tenants_committed):
    tenant = tenants_committed[0].schema_name
    with tenant_context(tenant):
        outbox.publish(unique_base_topic(), "c-1", b"x")
    holding, release = threading.Event(), threading.Event()

    def hold_the_lock():
        try:
            with tenant_context(tenant), transaction.atomic():
                assert relay._lock_schema(tenant)
                holding.set()
                release.wait(60)
        finally:
            connection.close()  # this thread's own; left open it outlives the test database

    thread = threading.Thread(target=hold_the_lock)
    thread.start()
    try:
        assert holding.wait(60)
        with tenant_context(tenant):
            result = relay.relay_pending(quick_producer("127.0.0.1:1"))
        assert result.busy
        assert result.selected == 0
    finally:
        release.set()
        thread.join()


# --- metrics and housekeeping --------------------------------------------------------------


def test_backlog_metrics(tenant_a):
    with tenant_context(tenant_a.schema_name):
        for key in ("c-1", "c-2"):
            outbox.publish(unique_base_topic(), key, b"x")
        OutboxMessage.objects.update(created_at=timezone.now() - timedelta(minutes=5))
    relay.update_backlog_metrics()
    labels = {"tenant": tenant_a.schema_name}
    assert REGISTRY.get_sample_value("dictamesh_outbox_backlog_messages", labels) == 2
    age = REGISTRY.get_sample_value("dictamesh_outbox_oldest_unsent_age_seconds", labels)
    assert age is not None
    assert age >= 300


def test_purge_deletes_only_old_sent_rows(tenant_a):
    with tenant_context(tenant_a.schema_name):
        ids = [outbox.publish(unique_base_topic(), f"c-{i}", b"x") for i in range(3)]
        old = timezone.now() - timedelta(days=10)
        OutboxMessage.objects.filter(event_id=ids[0]).update(created_at=old, sent_at=old)
        OutboxMessage.objects.filter(event_id=ids[1]).update(created_at=old)  # unsent
        OutboxMessage.objects.filter(event_id=ids[2]).update(sent_at=timezone.now())
        assert outbox.purge_sent(timedelta(days=7)) == 1
        assert set(OutboxMessage.objects.values_list("event_id", flat=True)) == set(ids[1:])


# --- replay --------------------------------------------------------------------------------


def test_replay_events_republishes_the_chosen_history(kafka_bootstrap, tenant_a):
    slug = tenant_a.schema_name
    replayed, untouched = unique_base_topic("replay"), unique_base_topic("keep")
    make_topics(kafka_bootstrap, [f"{slug}.{replayed}", f"{slug}.{untouched}"])
    with tenant_context(slug), quick_producer(kafka_bootstrap) as producer:
        old = outbox.publish(replayed, "c-0", b"too old")
        OutboxMessage.objects.filter(event_id=old).update(
            created_at=timezone.now() - timedelta(days=2))
        for i in range(5):
            outbox.publish(replayed, f"c-{i % 2}", f"r{i}".encode())
        outbox.publish(untouched, "c-9", b"other topic")
        _drain(producer)
    since = (timezone.now() - timedelta(hours=1)).isoformat()

    out = io.StringIO()
    call_command("replay_events", "--tenant", slug, "--since", since,
                 "--topic", replayed.split(".")[0] + ".*", "--dry-run", stdout=out)
    assert "Would replay 5 events" in out.getvalue()

    out = io.StringIO()
    call_command("replay_events", "--tenant", slug, "--since", since,
                 "--topic", replayed.split(".")[0] + ".*", stdout=out)
    assert "Queued again 5 events" in out.getvalue()
    assert "Replayed 5 events" in out.getvalue()

    values = [r.value for r in consume_all(kafka_bootstrap, f"{slug}.{replayed}", expected=11)]
    assert sorted(values) == sorted([b"too old"] + [f"r{i}".encode() for i in range(5)] * 2)
    assert len(consume_all(kafka_bootstrap, f"{slug}.{untouched}", expected=1)) == 1
    with tenant_context(slug):
        assert not OutboxMessage.objects.filter(sent_at__isnull=True).exists()


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["--tenant", "nobody", "--since", "2026-01-01T00:00:00Z"], "No tenant 'nobody'"),
        (["--tenant", "test_alpha", "--since", "yesterday"], "not an ISO 8601 time"),
        (["--tenant", "test_alpha", "--since", "2026-01-01T00:00:00"], "time zone"),
        (["--tenant", "test_alpha", "--since", "2999-01-01T00:00:00Z"], "in the future"),
    ],
)
def test_replay_events_refuses_bad_arguments(tenant_a, args, message):
    with pytest.raises(CommandError, match=message):
        call_command("replay_events", *args)
