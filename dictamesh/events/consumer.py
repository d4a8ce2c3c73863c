"""The reliable consumer runner: at-least-once from Kafka, effectively-once into the database.

One runner is one member of one consumer group. Each batch goes through

1. collect: ``batch_size`` records, or whatever arrived within ``batch_max_wait_ms``;
2. decode and validate: messages that can never be applied become dead letters before any
   transaction: undecodable bytes, an unknown schema id, a topic naming no tenant, a record
   of another schema than the topic's event type, or one the handlers' validators refuse
   (too long for its column, a NUL character PostgreSQL cannot store);
3. apply: per tenant, the EventStore opens one transaction in the tenant's schema, skips
   the events this group already applied, calls the handlers and records the others as
   applied; an event that fails for a permanent reason is found (by halves, in
   savepoints) and dead-lettered, and its neighbours apply;
4. publish the dead letters and wait for the broker's acks;
5. only then commit the offsets (last processed + 1) of the partitions that applied.

Step 3 runs in a second thread while the consumer thread collects and decodes the next
batch (the database works while Python decodes), one batch in flight at most, so batches
still apply in order. When no record has come for the next batch by the time the one in
flight is applied, that one is settled at once (the end of a burst commits promptly).
A crash anywhere before step 5 redelivers the batch, and step 3 makes the redelivery a
no-op for what the database already has.

Failures are classified (``failures.py``). A transient one (the database unreachable, a
lock timeout, a deadlock) rewinds only the partitions of the tenant it hit, and pauses them
with backoff (``stalls.py``) while the other partitions, other tenants, keep flowing; they
are retried until they apply. An unknown one is retried ``max_attempts`` times, then the
event that causes it is dead-lettered: one poison event never stalls a partition for ever.
"""

from __future__ import annotations

import re
import threading
import time
import uuid
from collections import Counter as Tally
from collections import defaultdict
from collections.abc import Callable, Iterable, Sequence
from concurrent.futures import Future, ThreadPoolExecutor
from contextlib import ExitStack, suppress
from dataclasses import dataclass, field
from typing import Any, Protocol

from kafka import (
    ConsumerRebalanceListener,
    KafkaConsumer,
    OffsetAndMetadata,
    TopicPartition,
)
from kafka.coordinator.assignors.range import RangePartitionAssignor
from kafka.coordinator.assignors.roundrobin import RoundRobinPartitionAssignor
from kafka.errors import KafkaConfigurationError, KafkaError
from opentelemetry import propagate, trace
from opentelemetry.propagators.textmap import Getter
from prometheus_client import Counter, Gauge, Histogram

from dictamesh.events import expected_record_name, record_full_name
from dictamesh.events.codec import CodecError, Decoded
from dictamesh.events.dlq import (
    DeadLetter,
    DeadLetterPublisher,
    letter_for_event,
    letter_for_record,
)
from dictamesh.events.gc_policy import tune_for_streaming
from dictamesh.events.handlers import (
    ConsumedEvent,
    EventValidator,
    Handler,
    PermanentError,
    Route,
    subscription_regex,
)
from dictamesh.events.kafka_clients import open_consumer
from dictamesh.events.kafka_config import KafkaConnection, client_options
from dictamesh.events.stalls import PartitionStalls
from dictamesh.events.topic_directory import (
    Listing,
    TopicDirectory,
    matching_topics,
    shared_directory,
)
from dictamesh.events.topics import TopicError, parse_topic
from dictamesh.observability.logging import get_logger

log = get_logger(__name__)
tracer = trace.get_tracer(__name__)

LAG = Gauge(
    "dictamesh_consumer_lag",
    "Messages not yet processed by the group: high watermark minus position.",
    ["group", "topic", "partition"],
)
# The specification's name: this member's partitions summed per topic; `sum by (topic,
# consumer_group)` over the members is the group's lag. The high watermark is the one
# the last fetch returned (Apache Kafka's log end offset; the development broker's is
# the same figure but only moves when a fetch reaches the partition).
TOPIC_LAG = Gauge(
    "kafka_consumer_lag",
    "Messages of the topic not yet processed by the group (this member's partitions).",
    ["topic", "consumer_group"],
)
PROCESSED = Counter(
    "dictamesh_consumer_events_processed",
    "Events applied (handlers called, effects committed).",
    ["group", "topic"],
)
DUPLICATES = Counter(
    "dictamesh_consumer_events_duplicate",
    "Redelivered events skipped because the group had already applied them.",
    ["group", "topic"],
)
DEAD_LETTERED = Counter(
    "dictamesh_consumer_dead_letters",
    "Messages sent to the dead-letter topic.",
    ["group", "topic", "reason"],
)
BATCH_SECONDS = Histogram(
    "dictamesh_consumer_batch_seconds",
    "Time from a batch's decode to its offset commit.",
    ["group"],
)

_DLQ_LINGER_MS = 5
_MAX_LINKS = 128  # the OpenTelemetry SDK's default limit of links per span
_LAG_REFRESH_SECONDS = 1.0
_KEEPALIVE_POLL_MS = 100  # while a slow batch applies: how often to look at its progress
# While a batch applies and no record has come for the next one: how often to look whether
# it is done. Its offsets are committed (and its report made) only once the consumer
# thread settles it; a poll waiting the whole batch wait for records that do not come
# (the end of a burst) held them back up to 500 ms, a third of a 30,000-event benchmark.
_IN_FLIGHT_POLL_MS = 10
_EVENT_ID_NAMESPACE = uuid.UUID("5c0d6a53-9a0b-4c44-8f3e-2f0a3c1f6c11")


class Decoder(Protocol):
    def decode(self, data: bytes) -> Decoded: ...


@dataclass(frozen=True)
class ApplyResult:
    applied: list[ConsumedEvent] = field(default_factory=list)
    duplicates: list[ConsumedEvent] = field(default_factory=list)
    rejected: list[tuple[ConsumedEvent, PermanentError]] = field(default_factory=list)


class EventStore(Protocol):
    """Where a runner applies events; the Django implementation is in apps.catalog.

    ``apply`` is called from the runner's apply thread, the rest from its consumer thread.
    """

    def tenant_exists(self, tenant: str) -> bool: ...

    def apply(
        self, tenant: str, events: Sequence[ConsumedEvent], dispatch: Handler,
        *, unknown_is_permanent: bool = False,
    ) -> ApplyResult:
        """In one transaction in the tenant's schema: dispatch the events not yet applied
        by this group, and record them as applied. Events that fail for a permanent
        reason (see ``failures.classify``; with ``unknown_is_permanent``, for an unknown
        one too) are returned as rejected and recorded as nothing; the others apply.
        A transient failure raises RetryableError, an unknown one is raised as it is."""
        ...

    def close(self) -> None:
        """Release what the calling thread holds (its database connection)."""
        ...


@dataclass(frozen=True)
class ConsumerSettings:
    """How a runner talks to Kafka; the defaults suit the local broker."""

    bootstrap_servers: Sequence[str]
    group: str
    batch_size: int = 1000
    batch_max_wait_ms: int = 500
    # How long the broker may hold a fetch that finds nothing new. Apache Kafka answers as
    # soon as a record arrives; a broker that checks for new records only now and then (the
    # development broker) answers after up to this long, so a latency-bound group keeps it
    # short. The cost is one more empty fetch per interval while idle.
    fetch_max_wait_ms: int = 500
    session_timeout_ms: int = 6000
    heartbeat_interval_ms: int = 1000
    max_poll_interval_ms: int = 10000
    metadata_max_age_ms: int = 30000  # how soon a new tenant's topics are picked up
    topic_listing_timeout_ms: int = 120_000  # the first listing of a large cluster's topics
    max_partition_fetch_bytes: int = 1024 * 1024
    auto_offset_reset: str = "earliest"  # a new group starts at the oldest retained event
    commit_timeout_ms: int = 3000  # also bounds the dead-letter acks; two fit a poll interval
    retry_backoff_ms: int = 200  # a stalled partition's first backoff, doubled per attempt
    retry_backoff_max_ms: int = 5000
    max_attempts: int = 5  # for a failure of unknown kind, before its event is dead-lettered

    def __post_init__(self) -> None:
        if self.batch_size < 1 or self.batch_max_wait_ms < 1 or self.fetch_max_wait_ms < 1:
            raise ValueError("The consumer batch size, batch wait and fetch wait must be "
                             "positive.")
        if 2 * self.commit_timeout_ms >= self.max_poll_interval_ms:
            raise ValueError(
                f"The commit timeout ({self.commit_timeout_ms} ms) must stay below half the "
                f"max poll interval ({self.max_poll_interval_ms} ms): dead-letter acks and "
                "the offset commit, back to back, must not get the consumer evicted."
            )
        if self.max_attempts < 1:
            raise ValueError("The consumer's max attempts must be at least 1.")

    def consumer_config(self) -> dict[str, Any]:
        return client_options(
            KafkaConnection.from_settings(self.bootstrap_servers), f"dictamesh-{self.group}",
            group_id=self.group,
            enable_auto_commit=False,
            auto_offset_reset=self.auto_offset_reset,
            session_timeout_ms=self.session_timeout_ms,
            heartbeat_interval_ms=self.heartbeat_interval_ms,
            max_poll_interval_ms=self.max_poll_interval_ms,
            max_poll_records=self.batch_size,
            metadata_max_age_ms=self.metadata_max_age_ms,
            max_partition_fetch_bytes=self.max_partition_fetch_bytes,
            fetch_max_wait_ms=self.fetch_max_wait_ms,
            # The runner names its topics; a topic deleted since the last listing (an
            # offboarded tenant's) must not be created again by the next metadata request.
            allow_auto_create_topics=False,
            # Most tenants' topics have one partition (the long-tail tier): the range
            # assignor, per topic, gives each one's only partition to the same first member,
            # and a second member got 48 of 4,096 partitions at 1,000 tenants. Round robin
            # deals them over the members; range stays listed so that a group mid-deploy,
            # with members of the previous release, still has a protocol in common.
            partition_assignment_strategy=(RoundRobinPartitionAssignor, RangePartitionAssignor),
        )

    def producer_config(self) -> dict[str, Any]:
        """The dead-letter producer's options."""
        return client_options(
            KafkaConnection.from_settings(self.bootstrap_servers), f"dictamesh-{self.group}-dlq",
            acks="all",
            linger_ms=_DLQ_LINGER_MS,
            max_block_ms=self.commit_timeout_ms,
            request_timeout_ms=self.commit_timeout_ms,
            # One delivery attempt window, so a failed dead letter is reported (and the
            # batch retried) within the flush timeout.
            delivery_timeout_ms=self.commit_timeout_ms + _DLQ_LINGER_MS + 1,
        )


@dataclass(frozen=True)
class BatchReport:
    records: int
    applied: int
    duplicates: int
    dead_lettered: int
    seconds: float
    lag: int | None  # all assigned partitions, as last measured (at most a second ago)


def tenant_of(topic: str) -> str:
    """The tenant (schema name) a ``<tenant>.<domain>.<source>.<event_type>`` topic names."""
    tenant = parse_topic(topic).tenant
    if tenant is None:
        raise TopicError(
            f"Topic {topic!r} has no tenant prefix: consumers apply events in a tenant's "
            "schema, so publish on <tenant>.<domain>.<source>.<event_type>."
        )
    return tenant


@dataclass
class _Batch:
    """One batch on its way from poll to offset commit."""

    records: dict[TopicPartition, list[Any]]  # per partition, in offset order
    started: float
    events: list[ConsumedEvent] = field(default_factory=list)
    letters: list[DeadLetter] = field(default_factory=list)
    # Partitions whose decoding could not finish (the registry did not answer): read again.
    failed: dict[TopicPartition, Exception] = field(default_factory=dict)

    @property
    def size(self) -> int:
        return sum(len(records) for records in self.records.values())

    def first_offsets(self) -> dict[TopicPartition, int]:
        return {tp: records[0].offset for tp, records in self.records.items()}

    def next_offsets(self) -> dict[TopicPartition, int]:
        return {tp: records[-1].offset + 1 for tp, records in self.records.items()}

    def without(self, committed: dict[TopicPartition, int]) -> _Batch | None:
        """This batch less the messages below ``committed`` (already handled)."""
        return self._keeping(lambda tp, offset: offset >= committed.get(tp, -1))

    def without_partitions(self, partitions: Iterable[TopicPartition]) -> _Batch | None:
        """This batch less every message of ``partitions`` (to be read again)."""
        dropped = set(partitions)
        return self._keeping(lambda tp, _offset: tp not in dropped)

    def _keeping(self, keep: Callable[[TopicPartition, int], bool]) -> _Batch | None:
        if all(keep(tp, records[0].offset) and keep(tp, records[-1].offset)
               for tp, records in self.records.items()):
            return self
        kept = {tp: [r for r in records if keep(tp, r.offset)]
                for tp, records in self.records.items()}
        kept = {tp: records for tp, records in kept.items() if records}
        if not kept:
            return None
        return _Batch(
            records=kept, started=self.started,
            events=[e for e in self.events if keep(TopicPartition(e.topic, e.partition),
                                                   e.offset)],
            letters=[d for d in self.letters if keep(TopicPartition(d.topic, d.partition),
                                                     d.offset)],
            failed={tp: exc for tp, exc in self.failed.items() if tp in kept},
        )


@dataclass(frozen=True)
class _Settled:
    """A batch whose transactions are over: what was committed, what must be read again."""

    batch: _Batch
    failed: dict[TopicPartition, BaseException]


@dataclass(frozen=True, slots=True)
class _TopicPlan:
    """What decoding a message of one topic checks, beside the message itself."""

    tenant: str  # the topic's tenant: the event is applied in its schema
    record_name: str | None  # the record its event type carries (None: any)
    validators: tuple[EventValidator, ...]  # of the handlers that get its events


# What applying one tenant's events came to: its result, or the failure to retry.
_Outcome = ApplyResult | Exception


class ConsumerRunner:
    """One consumer-group member: ``run()`` blocks until ``stop()`` (from any thread)."""

    def __init__(
        self,
        settings: ConsumerSettings,
        routes: Sequence[Route],
        codec: Decoder,
        store: EventStore,
        *,
        only_topics: re.Pattern[str] | None = None,
        stop_event: threading.Event | None = None,
        on_batch: Callable[[BatchReport], None] | None = None,
        topic_directory: TopicDirectory | None = None,
    ) -> None:
        self.settings = settings
        self.group = settings.group
        self._routes = tuple(routes)
        self._subscription = subscription_regex(self._routes, only_topics)
        self._subscription_regex = re.compile(self._subscription)
        self._directory = topic_directory or shared_directory(
            settings.bootstrap_servers, max_age_ms=settings.metadata_max_age_ms)
        self._topics: frozenset[str] = frozenset()  # what the consumer is subscribed to
        self._followed: Listing | None = None  # the directory listing the subscription follows
        self._codec = codec
        self._store = store
        self._stop = stop_event or threading.Event()
        self._on_batch = on_batch
        self._routes_by_topic: dict[str, tuple[int, ...]] = {}
        self._topic_plans: dict[str, _TopicPlan] = {}
        self._record_names: dict[int, str] = {}  # schema id -> full record name
        self._stalls = PartitionStalls(
            self.group, backoff_ms=settings.retry_backoff_ms,
            backoff_max_ms=settings.retry_backoff_max_ms, max_attempts=settings.max_attempts)
        self._lag_refreshed_at = 0.0
        self._in_flight: tuple[_Batch, Future[dict[str, _Outcome]]] | None = None
        self._rebalanced = threading.Event()  # positions restarted from the commits
        self._committed: dict[TopicPartition, int] = {}  # what this session committed
        self.lag: int | None = None

    def stop(self) -> None:
        self._stop.set()

    @property
    def subscribed_topics(self) -> frozenset[str]:
        """The topics this member is subscribed to (what its routes match in the last
        listing of the cluster's topics)."""
        return self._topics

    def run(self) -> None:
        """Consume until stopped; when the broker cannot be reached, wait and reconnect."""
        tune_for_streaming()
        try:
            while not self._stop.is_set():
                try:
                    self._consume()
                except KafkaConfigurationError:
                    raise  # a bug in our settings, not an outage: retrying cannot help
                except KafkaError as exc:
                    log.warning("kafka unavailable, reconnecting", group=self.group,
                                error=str(exc))
                    self._stop.wait(self.settings.retry_backoff_max_ms / 1000)
        finally:
            self._store.close()

    def commit_offsets(self, consumer: KafkaConsumer, offsets: dict[TopicPartition, int]) -> bool:
        """Commit ``offsets`` (the next offset to read, per partition) for the group."""
        try:
            consumer.commit(
                {tp: OffsetAndMetadata(offset, "", -1) for tp, offset in offsets.items()},
                timeout_ms=self.settings.commit_timeout_ms,
            )
        except KafkaError as exc:
            # The effects are committed; whoever reads these partitions next gets the
            # events again and skips them as duplicates.
            log.warning("offset commit failed; the batch will be redelivered and skipped",
                        group=self.group, error=str(exc))
            return False
        return True

    def _consume(self) -> None:
        with ExitStack() as cleanup:
            consumer = open_consumer(self.settings.consumer_config())
            membership = _Membership()
            cleanup.callback(self._leave_group, consumer, membership)
            publisher = DeadLetterPublisher(self.settings.producer_config(),
                                            timeout_seconds=self.settings.commit_timeout_ms / 1000)
            cleanup.callback(publisher.close)
            applier = ThreadPoolExecutor(1, thread_name_prefix=f"consumer-{self.group}-apply")
            cleanup.callback(self._close_applier, applier)
            listener = _Rebalance(self.group, membership, self._rebalanced.set)
            # A listing asked for now: topics created just before this start are in it.
            self._topics, self._followed = frozenset(), None
            self._follow_topics(consumer, listener, self._directory.listing(
                newer_than=time.monotonic(),
                timeout_seconds=self.settings.topic_listing_timeout_ms / 1000))
            # Nothing carries over a reconnect: positions restart at the commits.
            self._committed, self._in_flight = {}, None
            self._stalls.clear()
            log.info("consumer started", group=self.group, pattern=self._subscription,
                     topics=len(self._topics))
            while not self._stop.is_set():
                self._follow_topics(consumer, listener, self._directory.latest())
                self._resume_due(consumer)
                batch = self._next_batch(consumer)  # meanwhile the in-flight batch applies
                settled = self._settle(consumer, publisher)
                if settled is not None and settled.failed:
                    # The next batch was read past them: drop it there, read both again.
                    self._stall(consumer, settled.batch, settled.failed)
                    batch = batch.without_partitions(settled.failed) if batch else None
                if batch is not None and self._rebalanced.is_set():
                    batch = None  # a rebalance while settling: it comes again from the commits
                if batch is not None:
                    batch = batch.without(self._committed)
                if batch is not None and batch.failed:
                    self._stall(consumer, batch, batch.failed)
                    batch = batch.without_partitions(batch.failed)
                if batch is not None and not self._stop.is_set():
                    self._in_flight = (batch, applier.submit(self._apply_batch, batch,
                                                             self._giving_up(batch)))
                self._refresh_lag(consumer)
            self._settle(consumer, publisher)
            self._refresh_lag(consumer, force=True)  # what `consume` prints as it stops
        log.info("consumer stopped", group=self.group)

    def _follow_topics(self, consumer: KafkaConsumer, listener: _Rebalance,
                       listing: Listing | None) -> None:
        """Subscribe to the topics of ``listing`` (a directory listing) that the routes
        match, by name: kafka-python then asks the brokers for the metadata of those topics
        only, where a pattern makes it fetch and parse every topic of the cluster on the
        thread that sends the heartbeats. A new set of topics makes the group rebalance."""
        if listing is None or listing is self._followed:
            return
        self._followed = listing
        topics = matching_topics(listing.names, self._subscription_regex)
        if topics == self._topics:
            return
        log.info("subscription changed", group=self.group, topics=len(topics),
                 added=len(topics - self._topics), removed=len(self._topics - topics))
        self._topics = topics
        if topics:
            consumer.subscribe(topics=sorted(topics), listener=listener)
        else:
            consumer.unsubscribe()  # no topic of ours left: leave the group until one comes

    def _leave_group(self, consumer: KafkaConsumer, membership: _Membership) -> None:
        """Close the consumer; a member in a stable group sends LeaveGroup, so its
        partitions move at once. A member stopped while a join is under way closes
        without it, as a crashed member does, and the broker drops it after its session
        timeout: the development broker (Tansu) keeps a group unassignable for good when
        a member leaves in a join that made it the leader, before it hands out the
        assignment, and on that broker a join often follows the first assignment within
        seconds, so no wait for a quiet moment is safe. Apache Kafka copes either way."""
        if membership.joining:
            log.warning("stopped during a group join: closing without LeaveGroup; the "
                        "broker drops this member after its session timeout",
                        group=self.group, session_timeout_ms=self.settings.session_timeout_ms)
            _skip_leave_group(consumer)
        consumer.close(autocommit=False)

    def _settle(self, consumer: KafkaConsumer, publisher: DeadLetterPublisher) -> _Settled | None:
        """Finish the batch in flight, if any: wait for its transactions, dead-letter,
        commit the partitions that applied. Return which partitions failed (to be read
        again) with their errors.

        A rebalance while it was in flight (in the poll for the next batch) restarts the
        positions at the last commit, so the next batch may hold its records again: they
        are dropped once it is committed (see ``_Batch.without``), instead of being
        dead-lettered twice.
        """
        if self._in_flight is None:
            return None
        batch, applying = self._in_flight
        self._in_flight = None
        try:
            outcomes = self._wait_applied(consumer, applying)
        except Exception as exc:  # noqa: BLE001 - the apply thread itself failed: retry all
            return _Settled(batch, dict.fromkeys(batch.records, exc))
        failed: dict[TopicPartition, BaseException] = dict(batch.failed)
        for event in batch.events:
            outcome = outcomes[event.tenant]
            if isinstance(outcome, Exception):
                failed.setdefault(TopicPartition(event.topic, event.partition), outcome)
        results = [outcome for outcome in outcomes.values()
                   if isinstance(outcome, ApplyResult)]
        letters = [letter for letter in batch.letters
                   if TopicPartition(letter.topic, letter.partition) not in failed]
        letters += [letter_for_event(event, exc.reason, str(exc))
                    for result in results for event, exc in result.rejected]
        try:
            publisher.publish(letters)
        except KafkaConfigurationError:
            raise  # our settings are wrong: retrying cannot help
        except Exception as exc:  # noqa: BLE001 - the letters must land before the commit
            return _Settled(batch, dict.fromkeys(batch.records, exc))
        offsets = {tp: offset for tp, offset in batch.next_offsets().items()
                   if tp not in failed}
        if offsets and self.commit_offsets(consumer, offsets):
            self._committed.update(offsets)
        for tp in offsets:
            self._stalls.applied(tp)
        self._report(batch, results, letters)
        return _Settled(batch, failed)

    def _stall(
        self, consumer: KafkaConsumer, batch: _Batch, failed: dict[TopicPartition, Any]
    ) -> None:
        """Rewind each failed partition to its first offset in ``batch`` and pause it for
        its backoff; the other partitions (other tenants) keep flowing."""
        first = batch.first_offsets()
        assigned = consumer.assignment()
        for tp, exc in failed.items():
            self._stalls.failed(tp, first[tp], exc)
            if tp in assigned:  # a partition lost in a rebalance resumes at its commit
                consumer.seek(tp, first[tp])
                consumer.pause(tp)

    def _resume_due(self, consumer: KafkaConsumer) -> None:
        if not len(self._stalls):
            return
        assigned = consumer.assignment()
        self._stalls.keep_only(assigned)
        paused = consumer.paused()
        due = [tp for tp in self._stalls.due() if tp in paused]
        if due:
            consumer.resume(*due)

    def _giving_up(self, batch: _Batch) -> frozenset[str]:
        """The tenants of this batch whose next attempt is their last for an unknown
        failure: the event that causes it is then dead-lettered."""
        if not len(self._stalls):
            return frozenset()
        tenants = {event.tenant for event in batch.events
                   if self._stalls.gives_up(TopicPartition(event.topic, event.partition))}
        return frozenset(tenants)

    def _wait_applied(
        self, consumer: KafkaConsumer, applying: Future[dict[str, _Outcome]]
    ) -> dict[str, _Outcome]:
        """The batch's outcomes. A batch slower than a quarter of the max poll interval
        keeps this member in its group meanwhile, by polling with every partition paused
        (Kafka evicts a member that stops polling, and its batch would apply again)."""
        try:
            return applying.result(timeout=self.settings.max_poll_interval_ms / 4000)
        except TimeoutError:
            log.warning("slow batch: keeping the group membership alive while it applies",
                        group=self.group)
        if not self._topics:  # unsubscribed meanwhile (its topics deleted): no group to keep
            return applying.result()
        paused = consumer.assignment() - consumer.paused()  # stalled ones stay paused
        consumer.pause(*paused)
        try:
            while True:
                # After a rebalance in this poll, newly assigned partitions are not paused:
                # put back what they returned, for the next batch.
                for tp, records in consumer.poll(timeout_ms=_KEEPALIVE_POLL_MS).items():
                    consumer.seek(tp, records[0].offset)
                with suppress(TimeoutError):
                    return applying.result(timeout=0)
        finally:
            consumer.resume(*(paused & consumer.assignment()))

    def _close_applier(self, applier: ThreadPoolExecutor) -> None:
        applier.submit(self._store.close)  # the apply thread's own connection
        applier.shutdown(wait=True)

    def _next_batch(self, consumer: KafkaConsumer) -> _Batch | None:
        """Collect up to batch_size records, waiting at most batch_max_wait_ms, and decode."""
        if not self._topics:  # not subscribed: no topic matches the routes yet
            self._stop.wait(self.settings.batch_max_wait_ms / 1000)
            return None
        wanted = self.settings.batch_size
        deadline = time.monotonic() + self.settings.batch_max_wait_ms / 1000
        records: dict[TopicPartition, list[Any]] = {}
        count = 0
        while count < wanted and not self._stop.is_set():
            remaining_ms = int((deadline - time.monotonic()) * 1000)
            if remaining_ms <= 0:
                break
            if not count and self._in_flight_applied():
                break  # settle it now, not after a wait for records that may not come
            if self._in_flight is not None:
                remaining_ms = min(remaining_ms, _IN_FLIGHT_POLL_MS)
            polled = consumer.poll(timeout_ms=remaining_ms, max_records=wanted - count)
            if self._rebalanced.is_set():  # what was collected before it will come again
                self._rebalanced.clear()
                records.clear()
                count = 0
            for tp, partition_records in polled.items():
                if self._stalls.waiting(tp):
                    # Reassigned in a rebalance, a stalled partition comes back unpaused:
                    # it waits out its backoff all the same.
                    consumer.seek(tp, partition_records[0].offset)
                    consumer.pause(tp)
                    continue
                records.setdefault(tp, []).extend(partition_records)
                count += len(partition_records)
        if not records:
            return None
        batch = _Batch(records=records, started=time.monotonic())
        self._decode_all(batch)
        return batch

    def _in_flight_applied(self) -> bool:
        return self._in_flight is not None and self._in_flight[1].done()

    def _decode_all(self, batch: _Batch) -> None:
        known_tenants: dict[str, bool] = {}  # one lookup per tenant per batch
        for tp, partition_records in batch.records.items():
            decoded: list[ConsumedEvent] = []
            letters: list[DeadLetter] = []
            try:
                for record in partition_records:
                    try:
                        decoded.append(self._decode(record, known_tenants))
                    except _Poison as poison:
                        letters.append(letter_for_record(record, poison.reason, str(poison)))
            # A schema registry or database that cannot answer while decoding is a reason
            # to read the partition again, not to dead-letter its messages.
            except Exception as exc:  # noqa: BLE001 - whatever failed, retry; never skip
                batch.failed[tp] = exc
                continue
            batch.events += decoded
            batch.letters += letters

    def _decode(self, record: Any, known_tenants: dict[str, bool]) -> ConsumedEvent:
        topic = record.topic
        plan = self._topic_plans.get(topic) or self._plan_topic(topic)
        tenant = plan.tenant
        exists = known_tenants.get(tenant)
        if exists is None:
            exists = known_tenants[tenant] = self._store.tenant_exists(tenant)
        if not exists:
            raise _Poison("unknown_tenant", (
                f"Topic {topic!r} names tenant {tenant!r}, which does not exist: "
                "onboard the tenant, then replay this message from the dead-letter topic."))
        value = record.value
        if value is None:
            raise _Poison("no_value", "The message has no value (a tombstone?); "
                                      "events are never deleted by tombstones.")
        try:
            decoded = self._codec.decode(value)
        except CodecError as exc:
            raise _Poison(exc.reason, str(exc)) from exc
        schema_id = decoded.schema_id
        if plan.record_name is not None:
            self._check_record_name(topic, plan.record_name, decoded)
        fields = decoded.record
        if not isinstance(fields, dict):
            raise _Poison("wrong_schema", f"Schema id {schema_id} is not a record "
                                          "schema: events are Avro records.")
        claimed = fields.get("tenant")
        if claimed is not None and claimed != tenant:
            raise _Poison("tenant_mismatch", (
                f"The event says tenant {claimed!r} but was published on {topic!r}: "
                "fix the producer; events are applied only to their topic's tenant."))
        # Positional: a frozen dataclass' __init__ costs less without eleven keywords.
        event = ConsumedEvent(
            topic, record.partition, record.offset, record.key,
            tuple(record.headers or ()), record.timestamp, tenant,
            _event_id(fields, record), schema_id, fields, value,
        )
        if plan.validators:
            self._validate(event, plan.validators)
        return event

    def _plan_topic(self, topic: str) -> _TopicPlan:
        """What decoding needs to know about ``topic``, worked out once: parsing its name
        costs more than decoding a message."""
        try:
            tenant = tenant_of(topic)
        except TopicError as exc:
            raise _Poison("bad_topic_name", str(exc)) from exc
        found = (self._routes[i].validator for i in self._route_indexes(topic))
        plan = _TopicPlan(tenant, expected_record_name(topic),
                          tuple(validate for validate in found if validate is not None))
        self._topic_plans[topic] = plan
        return plan

    def _check_record_name(self, topic: str, expected: str, decoded: Decoded) -> None:
        """The record must be of the schema the topic's event type names (a valid record
        of another registered schema would fail in the handlers, every time)."""
        name = self._record_names.get(decoded.schema_id)
        if name is None:
            name = self._record_names[decoded.schema_id] = record_full_name(decoded.schema)
        if name != expected:
            raise _Poison("wrong_schema", (
                f"Topic {topic!r} carries {expected} records, but this message was written "
                f"with schema id {decoded.schema_id} ({name}): publish it on the topic of "
                "its own event type."))

    def _validate(self, event: ConsumedEvent, validators: tuple[EventValidator, ...]) -> None:
        """Run the validators of the handlers that will get ``event``, before any
        transaction: what they refuse is dead-lettered with their reason."""
        for validate in validators:
            try:
                validate(event)
            except PermanentError as exc:
                raise _Poison(exc.reason, str(exc)) from exc
            except _SHAPE_ERRORS as exc:  # the validator tripped over the record's shape
                raise _Poison("invalid_event", f"{type(exc).__name__}: {exc}") from exc

    def _apply_batch(self, batch: _Batch, giving_up: frozenset[str]) -> dict[str, _Outcome]:
        """In the apply thread: each tenant's events in its own transaction; a tenant's
        failure is its outcome, and does not stop the others."""
        with tracer.start_as_current_span(
            f"{self.group} process", kind=trace.SpanKind.CONSUMER,
            attributes={"messaging.system": "kafka",
                        "messaging.consumer.group.name": self.group,
                        "messaging.batch.message_count": batch.size},
        ):
            outcomes: dict[str, _Outcome] = {}
            for tenant, events in _by_tenant(batch.events).items():
                try:
                    outcomes[tenant] = self._apply_tenant(tenant, events, tenant in giving_up)
                except Exception as exc:  # noqa: BLE001 - classified by the stall book
                    outcomes[tenant] = exc
            return outcomes

    def _apply_tenant(
        self, tenant: str, events: list[ConsumedEvent], giving_up: bool
    ) -> ApplyResult:
        contexts, every_event = _trace_contexts(events)
        links = [trace.Link(context) for context in contexts]
        # Events of one trace (a poll's changes, a webhook's) continue it, so one trace id
        # runs from the edge to the catalog write; a batch mixing traces links to each.
        parent = (trace.set_span_in_context(trace.NonRecordingSpan(contexts[0]))
                  if every_event and len(contexts) == 1 else None)
        with tracer.start_as_current_span(
            f"{self.group} apply", context=parent, kind=trace.SpanKind.CONSUMER, links=links,
            attributes={"dictamesh.tenant": tenant, "messaging.batch.message_count": len(events)},
        ) as span:
            try:
                return self._store.apply(tenant, events, self._dispatch,
                                         unknown_is_permanent=giving_up)
            except Exception as exc:
                span.record_exception(exc)
                span.set_status(trace.StatusCode.ERROR, f"{type(exc).__name__}: {exc}")
                raise

    def _dispatch(self, events: Sequence[ConsumedEvent]) -> None:
        """Call each route's handler with its events, routes in registration order."""
        by_route: dict[int, list[ConsumedEvent]] = defaultdict(list)
        for event in events:
            for index in self._route_indexes(event.topic):
                by_route[index].append(event)
        for index in sorted(by_route):
            self._routes[index].handler(by_route[index])

    def _route_indexes(self, topic: str) -> tuple[int, ...]:
        indexes = self._routes_by_topic.get(topic)
        if indexes is None:
            indexes = tuple(i for i, route in enumerate(self._routes) if route.matches(topic))
            self._routes_by_topic[topic] = indexes
        return indexes

    def _report(self, batch: _Batch, results: list[ApplyResult], letters: list[DeadLetter]) -> None:
        seconds = time.monotonic() - batch.started
        applied = Tally(event.topic for result in results for event in result.applied)
        duplicates = Tally(event.topic for result in results for event in result.duplicates)
        for topic, count in applied.items():
            PROCESSED.labels(self.group, topic).inc(count)
        for topic, count in duplicates.items():
            DUPLICATES.labels(self.group, topic).inc(count)
        reasons = Tally((letter.topic, letter.reason) for letter in letters)
        for (topic, reason), count in reasons.items():
            DEAD_LETTERED.labels(self.group, topic, reason).inc(count)
        if reasons:
            log.warning("dead-lettered messages", group=self.group,
                        reasons=dict(Tally(letter.reason for letter in letters)))
        BATCH_SECONDS.labels(self.group).observe(seconds)
        if seconds * 1000 > self.settings.max_poll_interval_ms / 2:
            log.warning("slow batch: lower KAFKA_CONSUMER_BATCH_SIZE or raise "
                        "KAFKA_CONSUMER_MAX_POLL_INTERVAL_MS", group=self.group,
                        seconds=round(seconds, 2), records=batch.size)
        if self._on_batch is not None:
            self._on_batch(BatchReport(
                records=batch.size, applied=sum(applied.values()),
                duplicates=sum(duplicates.values()), dead_lettered=len(letters),
                seconds=seconds, lag=self.lag,
            ))

    def _refresh_lag(self, consumer: KafkaConsumer, *, force: bool = False) -> None:
        """Per partition: the high watermark minus what this member has committed (or,
        for a partition it has not committed yet, its position)."""
        now = time.monotonic()
        if not force and now - self._lag_refreshed_at < _LAG_REFRESH_SECONDS:
            return
        self._lag_refreshed_at = now
        total: int | None = None
        by_topic: dict[str, int] = {}
        for tp in consumer.assignment():
            highwater = consumer.highwater(tp)
            done = self._committed.get(tp)
            if done is None:
                done = consumer.position(tp, timeout_ms=0)
            if highwater is not None and done is not None:
                lag = max(highwater - done, 0)
                LAG.labels(self.group, tp.topic, str(tp.partition)).set(lag)
                total = (total or 0) + lag
                by_topic[tp.topic] = by_topic.get(tp.topic, 0) + lag
        self.lag = total
        _report_topic_lag(self.group, by_topic)


_topics_reported: dict[str, set[str]] = defaultdict(set)


def _report_topic_lag(group: str, by_topic: dict[str, int]) -> None:
    """Set kafka_consumer_lag for this member's topics and drop topics it no longer owns
    (their new owner reports them; a stale value would keep an alert firing)."""
    for topic, lag in by_topic.items():
        TOPIC_LAG.labels(topic, group).set(lag)
    for topic in _topics_reported[group] - by_topic.keys():
        with suppress(KeyError):
            TOPIC_LAG.remove(topic, group)
    _topics_reported[group] = set(by_topic)


class _Poison(Exception):
    def __init__(self, reason: str, message: str) -> None:
        super().__init__(message)
        self.reason = reason


# A validator that trips over a record's shape (a missing field, a wrong type) has found a
# record its handler would trip over too: the event is dead-lettered, not retried.
_SHAPE_ERRORS = (KeyError, TypeError, ValueError, AttributeError, IndexError)


def _skip_leave_group(consumer: KafkaConsumer) -> None:
    """Make ``close()`` send no LeaveGroup. kafka-python has no switch for it, but sends none
    for a static member (KIP-345), whose departure the broker learns by the session timeout:
    mark this member static for its close."""
    coordinator = getattr(consumer, "_coordinator", None)
    config = getattr(coordinator, "config", None)
    if isinstance(config, dict) and "group_instance_id" in config:
        config["group_instance_id"] = "dictamesh-closing"


class _Membership:
    """Whether a JoinGroup of this member is on its way, as the rebalance callbacks tell:
    kafka-python revokes before each join (an empty set on the first) and assigns after
    the SyncGroup (possibly nothing)."""

    def __init__(self) -> None:
        self.joining = False  # written by the IO thread, read by the consumer thread


class _Rebalance(ConsumerRebalanceListener):
    """Runs on kafka-python's IO thread during a rebalance: it must not block or call the
    consumer (a commit from here would wait for the very thread it runs on)."""

    def __init__(self, group: str, membership: _Membership,
                 after_assign: Callable[[], None]) -> None:
        self._group = group
        self._membership = membership
        self._after_assign = after_assign

    def on_partitions_revoked(self, revoked: Iterable[TopicPartition]) -> None:
        self._membership.joining = True
        log.info("joining the group", group=self._group)
        for tp in revoked:
            # The new owner reports these; a stale value here would keep an alert firing.
            with suppress(KeyError):  # never reported
                LAG.remove(self._group, tp.topic, str(tp.partition))

    def on_partitions_assigned(self, assigned: Iterable[TopicPartition]) -> None:
        # Operators (and the restart drill) read this line as "the member is serving".
        self._membership.joining = False
        log.info("partitions assigned", group=self._group, partitions=len(list(assigned)))
        self._after_assign()


class _HeaderGetter(Getter[Sequence[tuple[str, bytes]]]):
    def get(self, carrier: Sequence[tuple[str, bytes]], key: str) -> list[str] | None:
        values = [value.decode("latin-1") for name, value in carrier if name == key and value]
        return values or None

    def keys(self, carrier: Sequence[tuple[str, bytes]]) -> list[str]:
        return [name for name, _ in carrier]


_HEADERS = _HeaderGetter()


def _trace_contexts(events: Sequence[ConsumedEvent]) -> tuple[list[trace.SpanContext], bool]:
    """The distinct producer span contexts carried in ``traceparent`` headers (up to the
    link limit: extracting more would cost time for links the SDK drops), and whether
    every event carried one of them."""
    contexts: dict[bytes, trace.SpanContext | None] = {}
    every_event = True
    for event in events:
        value = next((value for name, value in event.headers if name == "traceparent"), None)
        if value is None:
            every_event = False
            continue
        if value in contexts:
            continue
        if len(contexts) == _MAX_LINKS:
            every_event = False  # not looked at: cannot tell
            break
        span = trace.get_current_span(propagate.extract(event.headers, getter=_HEADERS))
        context = span.get_span_context()
        contexts[value] = context if context.is_valid else None
        every_event = every_event and context.is_valid
    return [context for context in contexts.values() if context is not None], every_event


def _event_id(record: dict[str, Any], message: Any) -> uuid.UUID:
    """The event's id; an event without one is identified by its position, which makes a
    redelivery of the same message a duplicate all the same."""
    value = record.get("event_id")
    if type(value) is str and len(value) == 36:  # the canonical form: the usual case
        try:
            return _canonical_uuid(value)
        except ValueError:
            pass  # the general parse below names the problem
    if value is None:
        return uuid.uuid5(_EVENT_ID_NAMESPACE,
                          f"{message.topic}/{message.partition}/{message.offset}")
    if isinstance(value, uuid.UUID):
        return value
    try:
        return uuid.UUID(value)
    except (ValueError, TypeError, AttributeError) as exc:
        raise _Poison("bad_event_id", f"event_id {value!r} is not a UUID.") from exc


_SAFETY_UNKNOWN = uuid.SafeUUID.unknown
# UUID's slots, set directly: what object.__setattr__ would do, without looking them up.
_set_uuid_int = uuid.UUID.__dict__["int"].__set__
_set_uuid_safety = uuid.UUID.__dict__["is_safe"].__set__
_new_uuid = uuid.UUID.__new__


def _canonical_uuid(text: str) -> uuid.UUID:
    """``uuid.UUID(text)`` for 36-character text, without its general argument handling
    (a third of the runner's time per event went there): the same digits read the same
    way, and the same ValueError for what is not 32 hex digits once the hyphens are gone."""
    digits = text.replace("-", "")
    if len(digits) != 32:
        raise ValueError(text)
    value = _new_uuid(uuid.UUID)
    _set_uuid_int(value, int(digits, 16))
    _set_uuid_safety(value, _SAFETY_UNKNOWN)
    return value


def _by_tenant(events: Iterable[ConsumedEvent]) -> dict[str, list[ConsumedEvent]]:
    grouped: dict[str, list[ConsumedEvent]] = defaultdict(list)
    for event in events:
        grouped[event.tenant].append(event)
    return grouped
