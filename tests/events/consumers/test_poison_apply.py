"""Events that decode but cannot be applied: dead-lettered with their reason, never a stall.

These run the catalog's real handler (and its validator) on the real broker, database and
schema registry; the poison kinds are the ones that stalled every tenant of a consumer
member before the runner classified failures.
"""

from __future__ import annotations

import json
import time
import uuid
from collections import Counter
from collections.abc import Iterator, Sequence
from functools import partial
from typing import Any

import psycopg
import pytest
from django.db import connection
from kafka import KafkaProducer
from prometheus_client import REGISTRY

from apps.events.routes import handler_registry
from dictamesh.events import ENTITY_REGISTERED, load_schema
from dictamesh.events.codec import AvroCodec
from dictamesh.events.dlq import MESSAGE_HEADER, OFFSET_HEADER, REASON_HEADER
from dictamesh.events.handlers import ConsumedEvent, HandlerRegistry
from tests.events.consumers.conftest import (
    Topics,
    change_event,
    committed_lag,
    effects,
    encode,
    processed_count,
    read_all,
    record_effects,
    wait_for,
)
from tests.events.consumers.consumer_process import CATALOG_HANDLER
from tests.sagas.worker_process import _database_url


def logged_event_ids(schema: str) -> list[str]:
    """The catalog's event log of a tenant: one row per applied event."""
    with connection.cursor() as cursor:
        cursor.execute(f'SELECT event_id FROM "{schema}".event_log')
        return [str(row[0]) for row in cursor.fetchall()]


def wait_committed(bootstrap: str, group: str, topic: str, timeout: float) -> None:
    wait_for(lambda: committed_lag(bootstrap, group, topic) == 0, timeout,
             f"{topic} committed to its end")


def good_event(tenant: str, n: int) -> dict[str, Any]:
    record = change_event(tenant, f"cust-{n}")
    record["payload"] = json.dumps({"attributes": {"name": f"Customer {n}"}})
    return record


def _long_id(tenant: str) -> dict[str, Any]:
    record = good_event(tenant, 0)
    record["entity"]["id"] = "x" * 300  # the column holds 255
    return record


def _nul_attribute(tenant: str) -> dict[str, Any]:
    record = good_event(tenant, 0)
    record["entity"]["id"] = f"nul-{uuid.uuid4().hex[:6]}"
    record["payload"] = json.dumps({"attributes": {"name": "Ada\u0000Lovelace"}})
    return record


def _long_relationship_object(tenant: str) -> dict[str, Any]:
    record = good_event(tenant, 0)
    record["entity"]["id"] = f"rel-{uuid.uuid4().hex[:6]}"
    record["payload"] = json.dumps({"attributes": {}, "relationships": [
        {"type": "billed_to", "object": {"type": "customer", "id": "y" * 400}}]})
    return record


POISON_RECORDS = {"long entity id": _long_id, "NUL in an attribute": _nul_attribute,
                  "long relationship object id": _long_relationship_object}


def another_schemas_record(codec: AvroCodec, tenant: str) -> bytes:
    """A valid EntityRegistered event, registered under its own subject: it decodes, but
    it is not an EntityChangeEvent (the handler would KeyError on 'event_type')."""
    record = {"event_id": str(uuid.uuid4()), "timestamp": int(time.time() * 1000),
              "tenant": tenant, "entity": {"type": "customer", "id": "c1", "version": 1},
              "source": "directus", "adapter": "directus", "schema_version": 1,
              "location": None}
    return codec.encode(f"{tenant}.system.metadata.entity_registered-value",
                        load_schema(ENTITY_REGISTERED), record)


def send(producer: KafkaProducer, topic: str, key: str, value: bytes,
         headers: Sequence[tuple[str, bytes]] = ()) -> None:
    producer.send(topic, key=key.encode(), value=value, headers=list(headers))


def test_each_poison_kind_goes_to_the_dlq_and_both_tenants_good_events_apply_once(
    tenants_committed, topics, producer, codec, group, kafka_bootstrap,
    consumer_processes,
):
    alpha, beta = (tenant.schema_name for tenant in tenants_committed)
    topic_of = {alpha: topics.create(alpha, partitions=3), beta: topics.create(beta,
                                                                               partitions=3)}
    consumer = consumer_processes.start(group, topics.pattern)
    # Warm up: the member has joined and applies (the join is not what is measured).
    warmup = {tenant: good_event(tenant, -1) for tenant in topic_of}
    for tenant, record in warmup.items():
        send(producer, topic_of[tenant], "warmup", encode(codec, topic_of[tenant],
                                                          record))
    producer.flush()
    wait_for(lambda: all(logged_event_ids(t) for t in topic_of), 120, "the member joined")

    expected = {tenant: {record["event_id"]} for tenant, record in warmup.items()}
    poison_reasons: dict[str, Counter[str]] = {tenant: Counter() for tenant in topic_of}
    for tenant, topic in topic_of.items():
        for n in range(200):
            record = good_event(tenant, n)
            send(producer, topic, record["entity"]["id"], encode(codec, topic, record))
            expected[tenant].add(record["event_id"])
            if n % 50 == 25:  # a poison event among every fifty good ones
                kind = list(POISON_RECORDS)[(n // 50) % 3]
                bad = POISON_RECORDS[kind](tenant)
                send(producer, topic, f"cust-{n}", encode(codec, topic, bad))
                poison_reasons[tenant]["invalid_event"] += 1
        send(producer, topic, "cust-7", another_schemas_record(codec, tenant))
        poison_reasons[tenant]["wrong_schema"] += 1
    producer.flush()
    published_at = time.monotonic()

    for topic in topic_of.values():
        wait_committed(kafka_bootstrap, group, topic, 30)
    assert time.monotonic() - published_at < 30, consumer.log_path.read_text()[-3000:]

    for tenant, topic in topic_of.items():
        applied = logged_event_ids(tenant)
        assert sorted(applied) == sorted(expected[tenant])  # each once, none lost
        assert processed_count(tenant, group) == len(expected[tenant])
        letters = read_all(kafka_bootstrap, f"{topic}.dlq")
        assert Counter(dict(m.headers)[REASON_HEADER].decode() for m in letters) \
            == poison_reasons[tenant]
        for letter in letters:
            assert dict(letter.headers)[MESSAGE_HEADER]  # says what is wrong
    messages = " ".join(dict(m.headers)[MESSAGE_HEADER].decode()
                        for m in read_all(kafka_bootstrap, f"{topic_of[alpha]}.dlq"))
    assert "NUL character" in messages
    assert "has 300 characters" in messages
    assert "has 400 characters" in messages
    assert "EntityChangeEvent" in messages
    assert "EntityRegistered" in messages


def test_a_consumer_killed_at_five_points_in_five_thousand_events_loses_and_repeats_nothing(
    tenants_committed, topics, producer, codec, group, kafka_bootstrap,
    consumer_processes,
):
    alpha, beta = (tenant.schema_name for tenant in tenants_committed)
    topic_of = {alpha: topics.create(alpha, partitions=3), beta: topics.create(beta,
                                                                               partitions=3)}
    expected: dict[str, set[str]] = {alpha: set(), beta: set()}
    for n in range(2500):
        for tenant, topic in topic_of.items():
            record = good_event(tenant, n)
            send(producer, topic, record["entity"]["id"], encode(codec, topic, record))
            expected[tenant].add(record["event_id"])
    producer.flush()

    def applied() -> int:
        return sum(len(logged_event_ids(tenant)) for tenant in topic_of)

    kills = []
    for point in (400, 1300, 2200, 3100, 4000):
        consumer = consumer_processes.start(group, topics.pattern,
                                            KAFKA_CONSUMER_BATCH_SIZE="150")
        wait_for(partial(lambda p: applied() >= p, point), 120, f"{point} events applied")
        consumer.kill()
        kills.append(applied())
    consumer_processes.start(group, topics.pattern, KAFKA_CONSUMER_BATCH_SIZE="150")
    wait_for(lambda: applied() == 5000, 180, "all 5,000 events applied")
    for topic in topic_of.values():
        wait_committed(kafka_bootstrap, group, topic, 60)

    assert all(done < 5000 for done in kills), kills  # every kill landed mid-stream
    for tenant in topic_of:
        applied_ids = logged_event_ids(tenant)
        assert len(applied_ids) == len(set(applied_ids)) == 2500
        assert set(applied_ids) == expected[tenant]
        assert processed_count(tenant, group) == 2500


# --- In-process runners, for what a test must observe inside the member -------------------


def _catalog_handlers(group: str, topics: Topics) -> HandlerRegistry:
    return handler_registry({group: {topics.pattern: [CATALOG_HANDLER]}})


def _stalled(group: str, topic: str, partitions: int) -> list[float | None]:
    return [REGISTRY.get_sample_value("dictamesh_consumer_partition_stalled",
                                      {"group": group, "topic": topic, "partition": str(p)})
            for p in range(partitions)]


@pytest.fixture
def locked_table() -> Iterator[Any]:
    """``lock(schema, table)``: an operator's session holding ACCESS EXCLUSIVE on a table
    until ``release()``."""
    sessions: list[psycopg.Connection] = []

    class Lock:
        def lock(self, schema: str, table: str) -> None:
            session = psycopg.connect(_database_url())
            session.execute(f'LOCK TABLE "{schema}".{table} IN ACCESS EXCLUSIVE MODE')
            sessions.append(session)  # the transaction stays open: the lock is held

        def release(self) -> None:
            while sessions:
                session = sessions.pop()
                session.rollback()
                session.close()

    lock = Lock()
    yield lock
    lock.release()


def test_a_lock_on_one_tenants_table_pauses_only_its_partitions(
    settings, tenants_committed, topics, producer, codec, group, start_consumer,
    kafka_bootstrap, locked_table,
):
    settings.KAFKA_CONSUMER_LOCK_TIMEOUT_MS = 300
    settings.KAFKA_CONSUMER_RETRY_BACKOFF_MAX_MS = 1000
    alpha, beta = (tenant.schema_name for tenant in tenants_committed)
    topic_a, topic_b = topics.create(alpha, partitions=3), topics.create(beta, partitions=3)
    consumer = start_consumer(group, _catalog_handlers(group, topics))
    for tenant, topic in ((alpha, topic_a), (beta, topic_b)):
        record = good_event(tenant, -1)
        send(producer, topic, "warmup", encode(codec, topic, record))
    producer.flush()
    consumer.wait(lambda c: c.applied == 2, "the member joined and applies")

    locked_table.lock(alpha, "entity_catalog")
    sent: dict[str, list[str]] = {alpha: [], beta: []}
    for n in range(60):
        for tenant, topic in ((alpha, topic_a), (beta, topic_b)):
            record = good_event(tenant, n)
            send(producer, topic, record["entity"]["id"], encode(codec, topic, record))
            sent[tenant].append(record["event_id"])
    producer.flush()

    # Beta's events flow past alpha's stalled partitions.
    wait_for(lambda: len(logged_event_ids(beta)) == 61, 60, "beta's 60 events applied")
    wait_for(lambda: committed_lag(kafka_bootstrap, group, topic_b) == 0, 60, "beta committed")
    assert len(logged_event_ids(alpha)) == 1
    assert committed_lag(kafka_bootstrap, group, topic_a) == 60
    wait_for(lambda: 1.0 in _stalled(group, topic_a, 3), 30, "alpha's partitions stalled")
    assert set(_stalled(group, topic_b, 3)) == {None}  # beta's never were

    locked_table.release()
    wait_for(lambda: len(logged_event_ids(alpha)) == 61, 60, "alpha's events applied")
    assert set(sent[alpha]) <= set(logged_event_ids(alpha))
    wait_for(lambda: committed_lag(kafka_bootstrap, group, topic_a) == 0, 60, "alpha committed")
    wait_for(lambda: set(_stalled(group, topic_a, 3)) == {None}, 30, "stall gauges cleared")
    assert consumer.dead_lettered == 0


def test_an_unknown_failure_is_retried_a_bounded_number_of_times_then_dead_lettered(
    settings, effect_table, topics, producer, codec, group, start_consumer, kafka_bootstrap,
):
    settings.KAFKA_CONSUMER_MAX_ATTEMPTS = 3
    settings.KAFKA_CONSUMER_RETRY_BACKOFF_MS = 50
    alpha, _ = effect_table
    topic = topics.create(alpha, partitions=1)
    records = [change_event(alpha, f"c{n}") for n in range(30)]
    for record in records:
        send(producer, topic, record["entity"]["id"], encode(codec, topic, record))
    producer.flush()
    cursed = records[11]["event_id"]
    attempts = Counter[str]()

    def buggy(events: Sequence[ConsumedEvent]) -> None:
        record_effects(events)
        for event in events:
            if str(event.event_id) == cursed:
                attempts[cursed] += 1
                raise RuntimeError("a bug this event triggers")

    handlers = HandlerRegistry()
    handlers.register(group, topics.pattern)(buggy)
    consumer = start_consumer(group, handlers)
    consumer.wait(lambda c: c.applied == 29 and c.dead_lettered == 1, "29 applied, 1 dead")

    applied = sorted(str(row[0]) for row in effects(alpha))
    assert applied == sorted(r["event_id"] for r in records if r["event_id"] != cursed)
    letters = read_all(kafka_bootstrap, f"{topic}.dlq")
    assert [dict(m.headers)[REASON_HEADER] for m in letters] == [b"apply_failed"]
    assert int(dict(letters[0].headers)[OFFSET_HEADER]) == 11
    assert b"RuntimeError: a bug this event triggers" in dict(letters[0].headers)[MESSAGE_HEADER]
    assert attempts[cursed] >= 3  # retried, not dead-lettered on the first failure
    wait_for(lambda: committed_lag(kafka_bootstrap, group, topic) == 0, what="commit")


TRACE_ID = "4bf92f3577b34da6a3ce929d0e0e4736"


def test_tombstones_and_non_uuid_event_ids_are_dead_lettered_and_a_bad_traceparent_ignored(
    tenants_committed, topics, producer, codec, group, start_consumer, kafka_bootstrap,
):
    alpha = tenants_committed[0].schema_name
    topic = topics.create(alpha, partitions=1)
    good = [good_event(alpha, n) for n in range(4)]
    not_uuid = good_event(alpha, 99)
    not_uuid["event_id"] = "order-99"
    send(producer, topic, "c0", encode(codec, topic, good[0]))
    producer.send(topic, key=b"c0", value=None)  # a tombstone: events are never deleted so
    send(producer, topic, "c99", encode(codec, topic, not_uuid))
    # A traceparent too long for a trace id column, and one of the wrong shape.
    send(producer, topic, "c1", encode(codec, topic, good[1]),
         headers=[("traceparent", b"00-" + b"a" * 64 + b"-b7ad6b7169203331-01")])
    send(producer, topic, "c2", encode(codec, topic, good[2]),
         headers=[("traceparent", b"\xff\x00not-a-traceparent")])
    # And a valid one beside them, whose trace id is kept: the bad ones are not ignored
    # only because every header is.
    send(producer, topic, "c3", encode(codec, topic, good[3]),
         headers=[("traceparent", f"00-{TRACE_ID}-b7ad6b7169203331-01".encode())])
    producer.flush()

    consumer = start_consumer(group, _catalog_handlers(group, topics))
    consumer.wait(lambda c: c.applied == 4 and c.dead_lettered == 2, "4 applied, 2 dead")

    assert sorted(logged_event_ids(alpha)) == sorted(r["event_id"] for r in good)
    with connection.cursor() as cursor:
        cursor.execute(f'SELECT event_id::text, trace_id FROM "{alpha}".event_log')
        traces = dict(cursor.fetchall())
    # The bad headers are ignored, not stored cut short; the good one is stored.
    assert traces == {**{str(r["event_id"]): "" for r in good[:3]},
                      str(good[3]["event_id"]): TRACE_ID}
    letters = read_all(kafka_bootstrap, f"{topic}.dlq")
    assert sorted(dict(m.headers)[REASON_HEADER] for m in letters) == [b"bad_event_id",
                                                                        b"no_value"]
    wait_committed(kafka_bootstrap, group, topic, 60)


def test_a_database_connection_killed_mid_batch_is_retried_and_applied_once(
    settings, effect_table, topics, producer, codec, group, start_consumer, kafka_bootstrap,
):
    settings.KAFKA_CONSUMER_RETRY_BACKOFF_MS = 50
    alpha, _ = effect_table
    topic = topics.create(alpha, partitions=1)
    records = [change_event(alpha, f"c{n}") for n in range(25)]
    for record in records:
        send(producer, topic, record["entity"]["id"], encode(codec, topic, record))
    producer.flush()
    outages: list[int] = []

    def terminated_once(events: Sequence[ConsumedEvent]) -> None:
        record_effects(events)  # rolled back with the connection
        if not outages:
            with connection.cursor() as cursor:
                cursor.execute("SELECT pg_backend_pid()")
                pid = cursor.fetchone()[0]
            with psycopg.connect(_database_url(), autocommit=True) as admin:
                admin.execute("SELECT pg_terminate_backend(%s)", [pid])  # as a DB restart
            outages.append(pid)
            record_effects(events[:1])  # the next statement finds the connection gone

    handlers = HandlerRegistry()
    handlers.register(group, topics.pattern)(terminated_once)
    consumer = start_consumer(group, handlers)
    consumer.wait(lambda c: c.applied == 25, "25 events applied")

    assert len(outages) == 1
    rows = effects(alpha)
    assert len(rows) == 25  # once each: the first attempt's effects died with it
    assert sorted(str(row[0]) for row in rows) == sorted(r["event_id"] for r in records)
    assert consumer.dead_lettered == 0
    wait_committed(kafka_bootstrap, group, topic, 60)
