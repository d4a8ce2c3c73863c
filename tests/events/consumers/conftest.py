"""Fixtures for the consumer tests: private topics, a codec, a consumer running in a thread,
and a table in each tenant schema where the test handler leaves visible effects."""

from __future__ import annotations

import contextlib
import threading
import time
import uuid
from collections.abc import Callable, Iterator, Sequence
from datetime import UTC, datetime
from typing import Any

import pytest
from django.conf import settings
from django.db import connection
from django.utils.module_loading import import_string
from kafka import KafkaAdminClient, KafkaConsumer, KafkaProducer, TopicPartition
from kafka.admin import NewTopic
from prometheus_client import REGISTRY

from apps.events.consumers import ProcessedEventStore, build_runner, consumer_settings
from dictamesh.events import ENTITY_CHANGE_EVENT, load_schema
from dictamesh.events.codec import AvroCodec, subject_for_topic
from dictamesh.events.consumer import BatchReport, ConsumerRunner
from dictamesh.events.handlers import ConsumedEvent, HandlerRegistry
from tests.events.consumers.consumer_process import consumer_processes  # noqa: F401 - fixture

EFFECT_TABLE = "consumer_test_effect"
WAIT_SECONDS = 60


def wait_for(predicate: Callable[[], bool], timeout: float = WAIT_SECONDS, what: str = "") -> None:
    deadline = time.monotonic() + timeout
    while not predicate():
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out after {timeout}s waiting for {what or predicate}")
        time.sleep(0.05)


# --- Effects in the tenant schemas ----------------------------------------------------------


@pytest.fixture
def effect_table(tenants_committed) -> tuple[str, ...]:
    """A table in each test tenant's schema (emptied by ``tenants_committed``)."""
    schemas = tuple(tenant.schema_name for tenant in tenants_committed)
    with connection.cursor() as cursor:
        for schema in schemas:
            cursor.execute(
                f'CREATE TABLE IF NOT EXISTS "{schema}".{EFFECT_TABLE} '
                "(event_id uuid NOT NULL, entity_id text NOT NULL, schema_name text NOT NULL)"
            )
    return schemas


def record_effects(events: Sequence[ConsumedEvent]) -> None:
    """The test handler: one row per event, in whatever schema the runner switched to."""
    with connection.cursor() as cursor:
        cursor.executemany(
            f"INSERT INTO {EFFECT_TABLE} (event_id, entity_id, schema_name) "
            "VALUES (%s, %s, current_schema())",
            [(event.event_id, event.record["entity"]["id"]) for event in events],
        )


def effects(schema: str) -> list[tuple[uuid.UUID, str, str]]:
    with connection.cursor() as cursor:
        cursor.execute(f'SELECT event_id, entity_id, schema_name FROM "{schema}".{EFFECT_TABLE}')
        return list(cursor.fetchall())


def processed_count(schema: str, group: str) -> int:
    with connection.cursor() as cursor:
        cursor.execute(
            f'SELECT count(*) FROM "{schema}".event_processed WHERE consumer_group = %s', [group]
        )
        return int(cursor.fetchone()[0])


# --- Kafka ----------------------------------------------------------------------------------


class Topics:
    """Topics private to one test, deleted (with their dead-letter topics) afterwards.

    The broker is shared: a test's handlers subscribe with ``pattern``, which matches only
    this test's topics, never to a wide pattern that would consume other tests' messages.
    """

    def __init__(self, bootstrap: str) -> None:
        self.bootstrap = bootstrap
        self.admin = KafkaAdminClient(bootstrap_servers=bootstrap)
        self.token = f"t{uuid.uuid4().hex[:12]}"
        self.pattern = f"*.{self.token}.*.entity_changed"
        self.created: list[str] = []

    def create(self, tenant: str, partitions: int = 3) -> str:
        name = f"{tenant}.{self.token}.s{len(self.created)}.entity_changed"
        self.admin.create_topics([NewTopic(name, partitions, 1), NewTopic(f"{name}.dlq", 1, 1)])
        self.created += [name, f"{name}.dlq"]
        return name

    def close(self) -> None:
        with contextlib.suppress(Exception):  # a leftover on the dev broker is harmless
            self.admin.delete_topics(self.created)
        self.admin.close()


@pytest.fixture
def topics(kafka_bootstrap) -> Iterator[Topics]:
    created = Topics(kafka_bootstrap)
    yield created
    created.close()


@pytest.fixture
def producer(kafka_bootstrap) -> Iterator[KafkaProducer]:
    kafka_producer = KafkaProducer(bootstrap_servers=kafka_bootstrap, linger_ms=20,
                                   batch_size=256 * 1024)
    yield kafka_producer
    kafka_producer.close()


@pytest.fixture
def codec(tenants_committed) -> AvroCodec:
    """A codec on the platform's real schema registry (in the test database). A fresh one
    per test: the process' shared codec remembers ids that a transactional test's flush of
    the registry tables has since removed, which a consumer process could not resolve."""
    return AvroCodec(import_string(settings.EVENT_SCHEMA_RESOLVER)())


@pytest.fixture
def group() -> str:
    return f"test-consumers-{uuid.uuid4().hex[:12]}"


@pytest.fixture(autouse=True)
def _quick_batches(settings) -> None:
    """Small batch waits: the tests send little and should not wait for full batches."""
    settings.KAFKA_CONSUMER_BATCH_MAX_WAIT_MS = 100


def change_event(tenant: str, entity_id: str, event_id: uuid.UUID | None = None) -> dict:
    return {
        "event_id": str(event_id or uuid.uuid4()),
        "event_type": "UPDATED",
        "timestamp": datetime.now(tz=UTC),
        "entity": {"type": "customer", "id": entity_id, "version": 1},
        "tenant": tenant,
        "source": "src",
        "changed_fields": ["name"],
        "payload": '{"name": "Ada"}',
    }


def encode(codec: AvroCodec, topic: str, record: dict) -> bytes:
    return codec.encode(subject_for_topic(topic), load_schema(ENTITY_CHANGE_EVENT), record)


def publish(
    producer: KafkaProducer, codec: AvroCodec, topic: str, tenant: str, count: int,
    headers: list[tuple[str, bytes]] | None = None,
) -> list[dict]:
    """Send ``count`` change events to ``topic``; return their records."""
    records = [change_event(tenant, f"c{i}") for i in range(count)]
    for record in records:
        producer.send(topic, key=record["entity"]["id"].encode(),
                      value=encode(codec, topic, record), headers=headers or [])
    producer.flush()
    return records


# Tansu answers ListOffsets(latest) with the base offset of the last record batch + 1, which
# is short of the log end after a multi-record batch; fetch responses carry the right high
# watermark, so these helpers (like the runner) measure the end of a partition by fetching.


def _partitions(consumer: KafkaConsumer, topic: str) -> list[TopicPartition]:
    return [TopicPartition(topic, p) for p in sorted(consumer.partitions_for_topic(topic) or ())]


def _fetched_to_end(consumer: KafkaConsumer, partitions: list[TopicPartition],
                    into: list[Any] | None = None) -> bool:
    for batch in consumer.poll(timeout_ms=100).values():
        if into is not None:
            into.extend(batch)
    highwaters = [consumer.highwater(tp) for tp in partitions]
    if None in highwaters:
        return False
    return into is None or all(
        consumer.position(tp) >= hw for tp, hw in zip(partitions, highwaters, strict=True))


def read_all(bootstrap: str, topic: str) -> list[Any]:
    """Every message on ``topic``, read without a group."""
    consumer = KafkaConsumer(bootstrap_servers=bootstrap, enable_auto_commit=False)
    try:
        partitions = _partitions(consumer, topic)
        consumer.assign(partitions)
        consumer.seek_to_beginning(*partitions)
        messages: list[Any] = []
        wait_for(lambda: _fetched_to_end(consumer, partitions, messages), what=f"{topic} read")
        return messages
    finally:
        consumer.close()


def committed_lag(bootstrap: str, group: str, topic: str) -> int:
    """Log end minus the group's committed offset, summed over ``topic``'s partitions."""
    # Assigned by hand, a consumer with the group's id starts at the group's committed
    # offsets without joining the group (and commits nothing: auto-commit is off).
    consumer = KafkaConsumer(bootstrap_servers=bootstrap, group_id=group,
                             enable_auto_commit=False, auto_offset_reset="earliest")
    try:
        partitions = _partitions(consumer, topic)
        consumer.assign(partitions)
        wait_for(lambda: _fetched_to_end(consumer, partitions), what=f"{topic} high watermarks")
        return sum(consumer.highwater(tp) - (consumer.committed(tp) or 0) for tp in partitions)
    finally:
        consumer.close(autocommit=False)


def lag_gauge(group: str, topic: str, partitions: int) -> float | None:
    values = [REGISTRY.get_sample_value("dictamesh_consumer_lag",
                                        {"group": group, "topic": topic, "partition": str(p)})
              for p in range(partitions)]
    return None if None in values else sum(v for v in values if v is not None)


# --- A consumer in a thread -----------------------------------------------------------------


class RunningConsumer:
    """A runner in a background thread, with the totals of its batch reports."""

    def __init__(self, make_runner: Callable[[Callable[[BatchReport], None]], ConsumerRunner]):
        self.applied = self.duplicates = self.dead_lettered = 0
        self.batch_seconds: list[float] = []  # each batch's, from its decode to its commit
        self.error: BaseException | None = None
        self.runner = make_runner(self.on_batch)
        self._thread = threading.Thread(target=self._run, daemon=True)

    def on_batch(self, report: BatchReport) -> None:
        self.applied += report.applied
        self.duplicates += report.duplicates
        self.dead_lettered += report.dead_lettered
        self.batch_seconds.append(report.seconds)

    def start(self) -> RunningConsumer:
        self._thread.start()
        return self

    def wait(self, predicate: Callable[[RunningConsumer], bool], what: str) -> None:
        wait_for(lambda: predicate(self) or self.error is not None, what=what)
        if self.error is not None:
            raise AssertionError(f"the consumer died: {self.error!r}") from self.error

    def stop(self) -> None:
        self.runner.stop()
        self._thread.join(30)
        assert not self._thread.is_alive(), "the consumer did not stop within 30s"

    def join(self) -> None:
        self._thread.join(30)

    def _run(self) -> None:
        try:
            self.runner.run()
        except BaseException as exc:
            self.error = exc


@pytest.fixture
def start_consumer(codec) -> Iterator[Callable[..., RunningConsumer]]:
    """Start a consumer of ``group`` with ``handlers`` (or a runner class) in a thread."""
    running: list[RunningConsumer] = []

    def start(group: str, handlers: HandlerRegistry,
              runner_class: type[ConsumerRunner] | None = None) -> RunningConsumer:
        def make_runner(on_batch: Callable[[BatchReport], None]) -> ConsumerRunner:
            if runner_class is None:
                return build_runner(group, handlers=handlers, codec=codec, on_batch=on_batch)
            return runner_class(consumer_settings(group), handlers.routes(group), codec,
                                ProcessedEventStore(group), on_batch=on_batch)

        consumer = RunningConsumer(make_runner)
        running.append(consumer.start())
        return consumer

    yield start
    for consumer in running:
        consumer.runner.stop()
    for consumer in running:
        consumer.join()
