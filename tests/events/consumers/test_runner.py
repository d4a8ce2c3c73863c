"""The runner on the real broker and database: effects land once, in the right tenant."""

from __future__ import annotations

import time
from collections.abc import Iterator, Sequence

import pytest
from opentelemetry import trace
from opentelemetry.sdk.trace import TracerProvider
from opentelemetry.sdk.trace.export import SimpleSpanProcessor
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter
from prometheus_client import REGISTRY

from dictamesh.events.consumer import ConsumerRunner
from dictamesh.events.dlq import OFFSET_HEADER, REASON_HEADER
from dictamesh.events.handlers import (
    ConsumedEvent,
    HandlerRegistry,
    PermanentError,
    RetryableError,
)
from tests.events.consumers.conftest import (
    Topics,
    committed_lag,
    effects,
    lag_gauge,
    processed_count,
    publish,
    read_all,
    record_effects,
    wait_for,
)

TRACEPARENT = "00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01"


def _handlers(group: str, topics: Topics, handler=record_effects) -> HandlerRegistry:
    handlers = HandlerRegistry()
    handlers.register(group, topics.pattern)(handler)
    return handlers


@pytest.fixture
def spans() -> Iterator[InMemorySpanExporter]:
    provider = trace.get_tracer_provider()
    # dictamesh.observability installs the SDK provider in every process (AppConfig.ready).
    assert isinstance(provider, TracerProvider)
    exporter = InMemorySpanExporter()
    provider.add_span_processor(SimpleSpanProcessor(exporter))
    yield exporter
    exporter.shutdown()


def test_events_are_applied_once_each_in_the_schema_of_their_topics_tenant(
    effect_table, topics, producer, codec, group, start_consumer, kafka_bootstrap, spans
):
    alpha, beta = effect_table
    topic_a, topic_b = topics.create(alpha), topics.create(beta)
    sent_a = publish(producer, codec, topic_a, alpha, 40, headers=[("traceparent",
                                                                    TRACEPARENT.encode())])
    sent_b = publish(producer, codec, topic_b, beta, 25)

    consumer = start_consumer(group, _handlers(group, topics))
    consumer.wait(lambda c: c.applied == 65, "65 events applied")

    rows_a, rows_b = effects(alpha), effects(beta)
    assert sorted(str(row[0]) for row in rows_a) == sorted(r["event_id"] for r in sent_a)
    assert sorted(str(row[0]) for row in rows_b) == sorted(r["event_id"] for r in sent_b)
    assert {row[2] for row in rows_a} == {alpha}  # the handler ran in alpha's schema
    assert {row[2] for row in rows_b} == {beta}
    assert processed_count(alpha, group) == 40
    assert processed_count(beta, group) == 25
    wait_for(lambda: committed_lag(kafka_bootstrap, group, topic_a) == 0, what="commit")
    wait_for(lambda: lag_gauge(group, topic_b, 3) == 0, what="lag gauge at 0")
    assert REGISTRY.get_sample_value("kafka_consumer_lag", {
        "topic": topic_b, "consumer_group": group}) == 0  # the specification's name
    linked = {link.context.trace_id for span in spans.get_finished_spans()
              if span.name == f"{group} apply" for link in span.links}
    assert int(TRACEPARENT.split("-")[1], 16) in linked


def test_the_last_batch_of_a_burst_is_committed_without_waiting_for_a_next_batch(
    effect_table, topics, producer, codec, group, start_consumer, kafka_bootstrap, settings
):
    # The batch wait long: a runner that waited for the next batch's records before
    # committing the one applied would take all of it to commit the burst's last batch.
    settings.KAFKA_CONSUMER_BATCH_MAX_WAIT_MS = 10_000
    alpha, _ = effect_table
    topic = topics.create(alpha)
    publish(producer, codec, topic, alpha, 12)

    consumer = start_consumer(group, _handlers(group, topics))
    consumer.wait(lambda c: c.applied == 12, "12 events applied")

    assert max(consumer.batch_seconds) < 5.0, consumer.batch_seconds  # half the wait
    assert committed_lag(kafka_bootstrap, group, topic) == 0


class Killed(BaseException):
    """The process dies: nothing in the runner may catch this."""


class DiesBeforeOffsetCommit(ConsumerRunner):
    def commit_offsets(self, consumer, offsets) -> bool:
        raise Killed("killed after the database commit, before the offset commit")


def test_a_consumer_killed_between_its_db_commit_and_its_offset_commit_has_no_second_effect(
    effect_table, topics, producer, codec, group, start_consumer, kafka_bootstrap
):
    alpha, _ = effect_table
    topic = topics.create(alpha)
    sent = publish(producer, codec, topic, alpha, 30)
    handlers = _handlers(group, topics)

    doomed = start_consumer(group, handlers, runner_class=DiesBeforeOffsetCommit)
    doomed.join()
    assert isinstance(doomed.error, Killed)
    applied_before_death = len(effects(alpha))
    assert applied_before_death > 0
    assert committed_lag(kafka_bootstrap, group, topic) == 30  # nothing was committed

    successor = start_consumer(group, handlers)
    successor.wait(lambda c: c.applied + c.duplicates == 30, "all 30 events seen again")

    assert successor.duplicates == applied_before_death
    assert sorted(str(row[0]) for row in effects(alpha)) == sorted(r["event_id"] for r in sent)
    wait_for(lambda: committed_lag(kafka_bootstrap, group, topic) == 0, what="commit")


def test_a_retryable_error_retries_the_batch_until_it_applies_once(
    effect_table, topics, producer, codec, group, start_consumer
):
    alpha, _ = effect_table
    topic = topics.create(alpha)
    sent = publish(producer, codec, topic, alpha, 20)
    calls = []

    def flaky(events: Sequence[ConsumedEvent]) -> None:
        calls.append(len(events))
        record_effects(events)  # rolled back with the batch when the error follows
        if len(calls) <= 3:
            raise RetryableError("the search index is restarting")

    consumer = start_consumer(group, _handlers(group, topics, flaky))
    consumer.wait(lambda c: c.applied == 20, "20 events applied")

    assert len(calls) > 3
    assert sorted(str(row[0]) for row in effects(alpha)) == sorted(r["event_id"] for r in sent)
    assert consumer.dead_lettered == 0


@pytest.mark.parametrize("names_the_event", [True, False], ids=["named", "unnamed"])
def test_a_rejected_event_goes_to_the_dlq_and_the_rest_of_the_batch_applies_once(
    effect_table, topics, producer, codec, group, start_consumer, kafka_bootstrap,
    names_the_event,
):
    alpha, _ = effect_table
    topic = topics.create(alpha, partitions=1)
    sent = publish(producer, codec, topic, alpha, 30)
    poison_ids = {sent[7]["event_id"], sent[21]["event_id"]}

    def picky(events: Sequence[ConsumedEvent]) -> None:
        record_effects(events)
        for event in events:
            if str(event.event_id) in poison_ids:
                raise PermanentError("customer has no name", reason="invalid_customer",
                                     event=event if names_the_event else None)

    consumer = start_consumer(group, _handlers(group, topics, picky))
    consumer.wait(lambda c: c.applied == 28 and c.dead_lettered == 2, "28 applied, 2 rejected")

    applied = sorted(str(row[0]) for row in effects(alpha))
    assert applied == sorted(r["event_id"] for r in sent if r["event_id"] not in poison_ids)
    letters = read_all(kafka_bootstrap, f"{topic}.dlq")
    assert sorted(int(dict(m.headers)[OFFSET_HEADER]) for m in letters) == [7, 21]
    assert {dict(m.headers)[REASON_HEADER] for m in letters} == {b"invalid_customer"}
    assert processed_count(alpha, group) == 28  # a rejected event is not recorded as applied


def test_a_batch_slower_than_the_max_poll_interval_keeps_its_group_membership(
    settings, effect_table, topics, producer, codec, group, start_consumer, kafka_bootstrap
):
    settings.KAFKA_CONSUMER_MAX_POLL_INTERVAL_MS = 4000
    settings.KAFKA_CONSUMER_SESSION_TIMEOUT_MS = 3000
    settings.KAFKA_CONSUMER_RETRY_BACKOFF_MAX_MS = 1000
    settings.KAFKA_CONSUMER_COMMIT_TIMEOUT_MS = 1500
    alpha, _ = effect_table
    topic = topics.create(alpha, partitions=1)
    sent = publish(producer, codec, topic, alpha, 10)
    calls = []

    def slow(events: Sequence[ConsumedEvent]) -> None:
        calls.append(len(events))
        if len(calls) == 1:
            time.sleep(6)  # longer than the max poll interval
        record_effects(events)

    consumer = start_consumer(group, _handlers(group, topics, slow))
    consumer.wait(lambda c: c.applied == 10, "10 events applied")

    # Evicted, the consumer would have had its commit refused and read the batch again.
    wait_for(lambda: committed_lag(kafka_bootstrap, group, topic) == 0, what="commit")
    assert consumer.duplicates == 0
    assert sorted(str(row[0]) for row in effects(alpha)) == sorted(r["event_id"] for r in sent)
