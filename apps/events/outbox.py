"""The transactional outbox: the one way an event leaves a database transaction.

``publish`` writes the encoded event into the current tenant's ``event_outbox`` table in
the caller's transaction, so the event exists exactly when the change that caused it was
committed. The relay (``relay.py``) later sends unsent rows to Kafka oldest first and
marks them sent once acknowledged: at-least-once delivery, and nothing is lost while Kafka
is down. Consumers dedupe by ``event_id``, which also makes a replay (``replay.py``) safe.

Order per key: writers must change the entity (locking its row) before they publish, so a
later change of one entity always gets a higher outbox id.
"""

from __future__ import annotations

import json
import uuid
from collections.abc import Iterable, Mapping
from datetime import timedelta
from functools import cache
from typing import Any

from django.conf import settings
from django.db import connection
from django.utils import timezone
from django.utils.module_loading import import_string
from opentelemetry import propagate

from apps.events.contracts import OutboxError, OutgoingEvent
from apps.events.models import OutboxMessage
from dictamesh.bulk_copy import copy_rows, json_text
from dictamesh.events.codec import AvroCodec, subject_for_topic
from dictamesh.events.topics import TopicName, configured_spec, parse_topic
from dictamesh.tenancy import current_schema, is_public

# The relay LISTENs here; the payload is the tenant's schema (see ``notify_relay``).
RELAY_CHANNEL = "dictamesh_outbox"
# Kafka's default max.message.bytes is 1 MiB including the record's own overhead.
MAX_VALUE_BYTES = 1_000_000
PURGE_CHUNK = 10_000


def require_tenant(action: str) -> str:
    """The current tenant's schema; refuses the public schema, which has no outbox."""
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
    schema = schema or require_tenant("Publishing an event")
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


def _check_key_and_value(topic: str, key: str, value: bytes) -> None:
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


class _Rows:
    """Checked outbox rows of one call, in order. What is the same for every row (the
    tenant, each topic's physical name, the trace context) is worked out once per call: a
    consumer batch publishes a thousand events at a time."""

    def __init__(self, schema: str) -> None:
        self.schema = schema
        self.rows: list[tuple[Any, ...]] = []
        self._topics: dict[str, str] = {}
        trace_headers: dict[str, str] = {}
        propagate.inject(trace_headers)  # traceparent (and tracestate) when a span is active
        self._trace_headers = trace_headers
        # Serialised once: every row without headers of its own carries these.
        self._plain_headers = json_text(json.dumps(_check_headers(trace_headers)))
        self._created_at = timezone.now()

    def physical_topic(self, topic: str) -> str:
        physical = self._topics.get(topic)
        if physical is None:
            physical = self._topics[topic] = physical_topic(topic, self.schema)
        return physical

    def add(self, topic: str, key: str, value: bytes, headers: Mapping[str, str] | None,
            event_id: uuid.UUID | None) -> uuid.UUID:
        topic = self.physical_topic(topic)
        _check_key_and_value(topic, key, value)
        checked: Any = (_check_headers({**headers, **self._trace_headers}) if headers
                        else self._plain_headers)
        event_id = event_id or uuid.uuid4()
        self.rows.append((event_id, topic, key, bytes(value), checked, self._created_at))
        return event_id

    def insert(self) -> None:
        """One binary COPY for every row, in order (ids ascend in it, as the relay reads)."""
        if not self.rows:
            return
        with connection.cursor() as cursor:
            copy_rows(cursor, OutboxMessage._meta.db_table, _OUTBOX_COLUMNS, _OUTBOX_TYPES,
                      [(*row, 0, "") for row in self.rows])
        notify_relay(self.schema)


def notify_relay(schema: str) -> None:
    """Wake the relays for ``schema``'s new unsent rows when the caller's transaction commits.

    PostgreSQL delivers a NOTIFY only at commit (never for a rolled-back transaction, so a
    relay never wakes before the rows are visible to it) and folds the identical
    notifications of one transaction into one, so a request that publishes many times still
    wakes the relay once. Without it the relay found new rows only by polling every tenant.
    The cost: at commit a transaction that notified takes a global lock (the notification
    queue's), which serialises the commits of notifying transactions for a moment. That is
    nothing at the rate of one per request or per consumer batch, as the outbox is written;
    a writer of many tiny transactions per second should batch them (``publish_events``).
    Anything written without it (raw SQL, an admin path) is still sent by the relay's
    periodic full pass, only later.
    """
    with connection.cursor() as cursor:
        cursor.execute("SELECT pg_notify(%s, %s)", [RELAY_CHANNEL, schema])


_OUTBOX_COLUMNS = ("event_id", "topic", "key", "value", "headers", "created_at", "attempts",
                   "last_error")
_OUTBOX_TYPES = ("uuid", "varchar", "varchar", "bytea", "jsonb", "timestamptz", "int4", "text")


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
    rows = _Rows(require_tenant("Publishing an event"))
    event_id = rows.add(topic, key, value, headers, event_id)
    rows.insert()
    return event_id


@cache
def get_codec() -> AvroCodec:
    """The process' Avro codec; its schema ids come from ``settings.EVENT_SCHEMA_RESOLVER``.

    Named in the settings rather than imported: the schema registry lives in the catalog,
    which publishes through this app, so importing it here would tie the layers in a loop.
    """
    resolver_class = import_string(settings.EVENT_SCHEMA_RESOLVER)
    return AvroCodec(resolver_class())


def publish_events(events: Iterable[OutgoingEvent], *, codec: AvroCodec | None = None
                   ) -> list[uuid.UUID]:
    """Encode and queue many events with one COPY (order kept), in the caller's
    transaction. Each record's own ``event_id`` becomes its row's, so that consumers and
    replays agree on it."""
    rows = _Rows(require_tenant("Publishing an event"))
    codec = codec or get_codec()
    event_ids = []
    for event in events:
        full_topic = rows.physical_topic(event.topic)
        raw_id = event.record.get("event_id")
        try:
            event_id = uuid.UUID(str(raw_id)) if raw_id is not None else None
        except ValueError:
            raise OutboxError(f"The record's event_id {raw_id!r} is not a UUID.") from None
        value = codec.encode(subject_for_topic(full_topic), event.schema, event.record)
        event_ids.append(rows.add(full_topic, event.key, value, event.headers, event_id))
    rows.insert()
    return event_ids


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


def purge_sent(older_than: timedelta, *, dry_run: bool = False) -> int:
    """Delete the current tenant's sent rows created before ``older_than`` ago, in chunks
    (with ``dry_run``: count them)."""
    require_tenant("Purging the outbox")
    cutoff = timezone.now() - older_than
    if dry_run:
        return OutboxMessage.objects.filter(created_at__lt=cutoff, sent_at__isnull=False).count()
    deleted = 0
    while True:
        ids = list(OutboxMessage.objects.filter(created_at__lt=cutoff, sent_at__isnull=False)
                   .order_by("id").values_list("id", flat=True)[:PURGE_CHUNK])
        if not ids:
            return deleted
        deleted += OutboxMessage.objects.filter(id__in=ids).delete()[0]
