"""The transactional outbox: the one way an event leaves a database transaction.

``publish`` writes the encoded event into the current tenant's ``event_outbox`` table in
the caller's transaction, so the event exists exactly when the change that caused it was
committed. The relay (``relay_pending``) later sends unsent rows to Kafka oldest first and
marks them sent once acknowledged: at-least-once delivery, and nothing is lost while Kafka
is down. Consumers dedupe by ``event_id``, which also makes ``replay`` safe.

Order per key: writers must change the entity (locking its row) before they publish, so a
later change of one entity always gets a higher outbox id.
"""

from __future__ import annotations

import fnmatch
import uuid
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from datetime import datetime, timedelta
from functools import cache
from typing import Any

from django.db import ProgrammingError, connection, transaction
from django.db.models import Count, F, Max, Min
from django.utils import timezone
from opentelemetry import propagate
from prometheus_client import Counter, Gauge

from apps.catalog.models import OutboxMessage
from apps.tenancy.services import tenant_schemas
from dictamesh.events.codec import AvroCodec, subject_for_topic
from dictamesh.events.producer import EventProducer, OutgoingRecord
from dictamesh.events.topics import TopicName, configured_spec, parse_topic
from dictamesh.tenancy import current_schema, is_public, tenant_context

# Kafka's default max.message.bytes is 1 MiB including the record's own overhead.
MAX_VALUE_BYTES = 1_000_000
MAX_ERROR_CHARS = 2000
PURGE_CHUNK = 10_000

BACKLOG = Gauge("dictamesh_outbox_backlog_messages", "Unsent outbox rows.", ["tenant"])
OLDEST_AGE = Gauge("dictamesh_outbox_oldest_unsent_age_seconds",
                   "Age of the oldest unsent outbox row (0 when none).", ["tenant"])
SENT = Counter("dictamesh_outbox_sent", "Outbox rows acknowledged by Kafka.", ["tenant"])
SEND_ERRORS = Counter("dictamesh_outbox_send_errors",
                      "Outbox rows Kafka did not acknowledge (they are retried).", ["tenant"])


class OutboxError(Exception):
    """An event was refused by the outbox; the message says why and what to do."""


# --- Publishing ----------------------------------------------------------------------------


def _require_tenant(action: str) -> str:
    schema = current_schema()
    if is_public(schema):
        raise OutboxError(
            f"{action} needs a tenant schema: the outbox lives in each tenant's schema, and "
            "the public schema has none. Run it inside tenant_context(<slug>) (requests "
            "routed to a tenant and tenant Celery tasks already are)."
        )
    return schema


def physical_topic(topic: str, schema: str | None = None) -> str:
    """The Kafka topic ``topic`` names for the current tenant.

    ``customers.directus.entity_changed`` becomes ``<tenant>.customers.directus...``
    unless the spec declares it global; a name with another tenant's prefix is refused.
    """
    schema = schema or _require_tenant("Publishing an event")
    parsed = parse_topic(topic)
    if parsed.tenant is not None:
        if parsed.tenant != schema:
            raise OutboxError(
                f"Topic {topic!r} belongs to tenant {parsed.tenant!r}, but this is tenant "
                f"{schema!r}: a tenant publishes only to its own topics (pass "
                f"{parsed.base!r} and the prefix is added)."
            )
        return topic
    if configured_spec().scope_of(parsed.base) == "global":
        return topic
    return str(TopicName(schema, parsed.domain, parsed.source, parsed.event_type,
                         parsed.is_dlq))


def _check_headers(headers: Mapping[str, str]) -> list[list[str]]:
    for name, value in headers.items():
        if not name or not isinstance(name, str) or not isinstance(value, str):
            raise OutboxError(
                f"Header {name!r}={value!r}: header names and values must be non-empty text."
            )
    return [[name, value] for name, value in headers.items()]


def _outbox_row(
    topic: str,
    key: str,
    value: bytes,
    headers: Mapping[str, str] | None,
    event_id: uuid.UUID | None,
    schema: str,
) -> OutboxMessage:
    """A checked, unsaved outbox row for the current tenant."""
    topic = physical_topic(topic, schema)
    if not isinstance(key, str) or not key or len(key) > 255:
        raise OutboxError(f"Key {key!r}: give the entity id as text of 1-255 characters.")
    if not isinstance(value, bytes | bytearray | memoryview):
        raise OutboxError(
            f"Value is {type(value).__name__}: publish() takes encoded bytes; use "
            "publish_event() to encode a record with its Avro schema."
        )
    if len(value) > MAX_VALUE_BYTES:
        raise OutboxError(
            f"Event of {len(value)} bytes on {topic!r} exceeds Kafka's {MAX_VALUE_BYTES}: "
            "publish a reference to the data instead of the data itself."
        )
    carrier = dict(headers or {})
    propagate.inject(carrier)  # adds traceparent (and tracestate) when a span is active
    return OutboxMessage(event_id=event_id or uuid.uuid4(), topic=topic, key=key,
                         value=bytes(value), headers=_check_headers(carrier))


def publish(
    topic: str,
    key: str,
    value: bytes,
    headers: Mapping[str, str] | None = None,
    event_id: uuid.UUID | None = None,
) -> uuid.UUID:
    """Queue an encoded event in the caller's transaction; return its event id.

    ``key`` is the entity id (the partition key), ``value`` the Confluent wire-format
    bytes, ``event_id`` the id inside the event (a new one if not given). The current
    OpenTelemetry trace context travels along as a ``traceparent`` header.
    """
    schema = _require_tenant("Publishing an event")
    row = _outbox_row(topic, key, value, headers, event_id, schema)
    row.save(force_insert=True)
    return row.event_id


@cache
def get_codec() -> AvroCodec:
    """The process' Avro codec; its schema ids are the schema registry's."""
    from apps.catalog.schema_registry.resolver import RegistrySchemaResolver

    return AvroCodec(RegistrySchemaResolver())


@dataclass(frozen=True)
class OutgoingEvent:
    """An Avro record to publish: ``topic`` without the tenant prefix, ``key`` the entity id."""

    topic: str
    key: str
    schema: dict[str, Any]
    record: dict[str, Any]
    headers: Mapping[str, str] | None = None


def publish_events(events: Iterable[OutgoingEvent], *, codec: AvroCodec | None = None
                   ) -> list[uuid.UUID]:
    """Encode and queue many events with one INSERT (order kept), in the caller's
    transaction. Each record's own ``event_id`` becomes its row's, so that consumers and
    replays agree on it."""
    schema = _require_tenant("Publishing an event")
    codec = codec or get_codec()
    rows = []
    for event in events:
        full_topic = physical_topic(event.topic, schema)
        raw_id = event.record.get("event_id")
        try:
            event_id = uuid.UUID(str(raw_id)) if raw_id is not None else None
        except ValueError:
            raise OutboxError(f"The record's event_id {raw_id!r} is not a UUID.") from None
        value = codec.encode(subject_for_topic(full_topic), event.schema, event.record)
        rows.append(_outbox_row(full_topic, event.key, value, event.headers, event_id, schema))
    OutboxMessage.objects.bulk_create(rows)
    return [row.event_id for row in rows]


def publish_event(
    topic: str,
    key: str,
    schema: dict[str, Any],
    record: dict[str, Any],
    headers: Mapping[str, str] | None = None,
    *,
    codec: AvroCodec | None = None,
) -> uuid.UUID:
    """Encode ``record`` with ``schema`` (Confluent wire format) and ``publish`` it."""
    return publish_events([OutgoingEvent(topic, key, schema, record, headers)],
                          codec=codec)[0]


# --- Relaying ------------------------------------------------------------------------------


@dataclass(frozen=True)
class RelayResult:
    schema: str
    selected: int = 0
    sent: int = 0
    failed: int = 0
    error: str = ""
    busy: bool = False  # another relay is working on this tenant right now
    unreachable: bool = False  # Kafka could not be reached at all


def _lock_schema(schema: str) -> bool:
    """Take this tenant's relay lock for the current transaction; False if another has it.

    The row locks alone (FOR UPDATE SKIP LOCKED) keep two relays from sending a row twice,
    but the second would skip the first one's rows and could send a later event of a key
    before an earlier one. One relay per tenant at a time keeps order per key; the
    tenants themselves spread over the relays of all workers.
    """
    with connection.cursor() as cursor:
        cursor.execute("SELECT pg_try_advisory_xact_lock(hashtext('dictamesh.outbox'), "
                       "hashtext(%s))", [schema])
        return bool(cursor.fetchone()[0])


def relay_pending(producer: EventProducer, batch_size: int = 2000) -> RelayResult:
    """Send up to ``batch_size`` unsent rows of the current tenant, oldest first.

    Acknowledged rows are marked sent; on an error the failed rows record it and the batch
    stops there, so a later row of a key never overtakes an earlier unsent one.
    """
    schema = _require_tenant("The outbox relay")
    with transaction.atomic():
        if not _lock_schema(schema):
            return RelayResult(schema, busy=True)
        rows = list(
            OutboxMessage.objects.select_for_update(skip_locked=True)
            .filter(sent_at__isnull=True).order_by("id")
            .values_list("id", "topic", "key", "value", "headers")[:batch_size]
        )
        if not rows:
            return RelayResult(schema)
        delivery = producer.send_batch([
            OutgoingRecord(topic, key, bytes(value), [(n, v) for n, v in headers])
            for _, topic, key, value, headers in rows
        ])
        if delivery.acked:
            OutboxMessage.objects.filter(id__in=[rows[i][0] for i in delivery.acked]) \
                .update(sent_at=timezone.now())
        if delivery.failed:
            OutboxMessage.objects.filter(id__in=[rows[i][0] for i in delivery.failed]) \
                .update(attempts=F("attempts") + 1, last_error=delivery.error[:MAX_ERROR_CHARS])
    SENT.labels(schema).inc(len(delivery.acked))
    SEND_ERRORS.labels(schema).inc(len(delivery.failed))
    return RelayResult(schema, selected=len(rows), sent=len(delivery.acked),
                       failed=len(delivery.failed), error=delivery.error,
                       unreachable=delivery.unreachable)


def relay_all_tenants(
    producer: EventProducer, batch_size: int = 2000, skip: Iterable[str] = ()
) -> list[RelayResult]:
    """One batch per tenant (fair: a big backlog does not starve the others).

    Stops when Kafka is unreachable: the other tenants would only wait for the same timeout.
    A tenant whose schema is not migrated yet (during a deploy) fails alone.
    """
    skipped = set(skip)
    results: list[RelayResult] = []
    for schema in tenant_schemas():
        if schema in skipped:
            continue
        try:
            with tenant_context(schema):
                result = relay_pending(producer, batch_size)
        except ProgrammingError as exc:
            result = RelayResult(schema, error=f"schema {schema!r} is not ready: {exc}".strip())
        results.append(result)
        if result.unreachable:
            break
    return results


def update_backlog_metrics() -> None:
    """Set the backlog gauges of every tenant (a count over the pending-rows index)."""
    now = timezone.now()
    for schema in tenant_schemas():
        with tenant_context(schema):
            stats = OutboxMessage.objects.filter(sent_at__isnull=True).aggregate(
                oldest=Min("created_at"), count=Count("id"))
        BACKLOG.labels(schema).set(stats["count"])
        oldest = stats["oldest"]
        OLDEST_AGE.labels(schema).set((now - oldest).total_seconds() if oldest else 0)


def purge_sent(older_than: timedelta) -> int:
    """Delete the current tenant's sent rows created before ``older_than`` ago, in chunks."""
    _require_tenant("Purging the outbox")
    cutoff = timezone.now() - older_than
    deleted = 0
    while True:
        ids = list(OutboxMessage.objects.filter(created_at__lt=cutoff, sent_at__isnull=False)
                   .order_by("id").values_list("id", flat=True)[:PURGE_CHUNK])
        if not ids:
            return deleted
        deleted += OutboxMessage.objects.filter(id__in=ids).delete()[0]


# --- Replay --------------------------------------------------------------------------------


@dataclass(frozen=True)
class ReplayPlan:
    rows: int
    last_id: int | None  # the relay has replayed everything once no row up to it is unsent
    topics: tuple[str, ...]


def requeue_for_replay(
    since: datetime, topic_pattern: str | None = None, *, dry_run: bool = False
) -> ReplayPlan:
    """Mark the current tenant's sent rows created since ``since`` unsent again.

    The relay then sends them again, oldest first and before anything newer, so order per
    key holds. ``topic_pattern`` is a shell pattern matched against the topic with or
    without its tenant prefix (``customers.*``). One transaction: a relay never sees half.
    """
    _require_tenant("Replaying events")
    if timezone.is_naive(since):
        raise OutboxError("Give --since with a time zone (e.g. 2026-01-31T12:00:00Z).")
    with transaction.atomic():
        sent = OutboxMessage.objects.filter(created_at__gte=since, sent_at__isnull=False)
        topics = sorted(set(sent.values_list("topic", flat=True)))
        if topic_pattern:
            topics = [t for t in topics if fnmatch.fnmatchcase(t, topic_pattern)
                      or fnmatch.fnmatchcase(parse_topic(t).base, topic_pattern)]
        chosen = sent.filter(topic__in=topics)
        rows = chosen.count()
        last_id = chosen.aggregate(last=Max("id"))["last"]
        if not dry_run:
            chosen.update(sent_at=None)
    return ReplayPlan(rows, last_id, tuple(topics))


def unsent_through(last_id: int) -> int:
    """How many rows up to ``last_id`` the relay still has to send."""
    return OutboxMessage.objects.filter(id__lte=last_id, sent_at__isnull=True).count()
