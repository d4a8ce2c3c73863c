"""The outbox relay's database work: send a tenant's unsent rows to Kafka, oldest first.

``relay_pending`` sends one batch of the current tenant and marks what Kafka acknowledged;
``relay_tenants`` does one fair pass over some tenants, ``relay_all_tenants`` over all.
The thread that calls them for the worker's whole life is in ``relay_worker.py``.
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Any

import psycopg
from django.db import ProgrammingError, connection, transaction
from django.db.models import Count, F, Min
from django.utils import timezone
from prometheus_client import Counter, Gauge

from apps.events.models import OutboxMessage
from apps.events.outbox import require_tenant
from apps.events.relay_telemetry import trace_publish
from apps.tenancy.services import tenant_schemas
from dictamesh.database.replicas import pin_to_primary
from dictamesh.events.producer import EventProducer, OutgoingRecord
from dictamesh.observability.db import db_operation
from dictamesh.tenancy import psycopg_connection_in_tenant, tenant_context

MAX_ERROR_CHARS = 2000

BACKLOG = Gauge("dictamesh_outbox_backlog_messages", "Unsent outbox rows.", ["tenant"])
OLDEST_AGE = Gauge("dictamesh_outbox_oldest_unsent_age_seconds",
                   "Age of the oldest unsent outbox row (0 when none).", ["tenant"])
SENT = Counter("dictamesh_outbox_sent", "Outbox rows acknowledged by Kafka.", ["tenant"])
SEND_ERRORS = Counter("dictamesh_outbox_send_errors",
                      "Outbox rows Kafka did not acknowledge (they are retried).", ["tenant"])


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

    Row locks (FOR UPDATE SKIP LOCKED) would keep two relays from sending a row twice, but
    the second would skip the first one's rows and could send a later event of a key
    before an earlier one. One relay per tenant at a time keeps order per key; the
    tenants themselves spread over the relays of all workers. This lock is also all that
    keeps the tenant's unsent rows to one relay: nothing else updates or deletes an unsent
    row (replay only makes sent rows unsent, the purge deletes only sent rows), and a
    relay's queries run after its lock is granted, so they see every earlier relay's
    commit. Row locks on top cost a WAL record per row (and a full-page image per page
    after each checkpoint), for nothing.
    """
    with connection.cursor() as cursor:
        cursor.execute("SELECT pg_try_advisory_xact_lock(hashtext('dictamesh.outbox'), "
                       "hashtext(%s))", [schema])
        return bool(cursor.fetchone()[0])


_MARK_SENT_SQL = (f"UPDATE {OutboxMessage._meta.db_table} SET sent_at = %s "  # noqa: S608
                  "WHERE id = ANY(%s)")  # our own table name, and the ids as one array


@db_operation("outbox_mark_sent")
def _mark_sent(ids: list[int]) -> None:
    """Mark rows sent. One array parameter rather than the ORM's ``id IN (%s, %s, ...)``:
    quoting two thousand placeholders into the query text on the client (Django's psycopg
    cursors bind client-side) was a fifth of the relay's time per batch; sent as a binary
    array it is not even formatted as text."""
    pin_to_primary()  # as Django's cursors do for a write (this cursor is not Django's)
    with _binary_cursor() as cursor:
        cursor.execute(_MARK_SENT_SQL, [timezone.now(), ids])


@contextmanager
def _binary_cursor() -> Iterator[psycopg.Cursor[Any]]:
    """A cursor of the relay's connection (and transaction) that binds parameters on the
    server and reads results in binary. Django's cursors bind client-side, which allows
    text results only: each row's value came as hex text, twice its bytes, encoded by
    PostgreSQL and decoded here (2.0-2.8 us of client CPU per row, 5-9 us wall, against
    0.9-1.5 and 3-4 in binary; a 512-byte value, 2,000 rows per query). Django's cursor
    wrappers (per-statement spans and metrics, the replica router's pin on writes) do not
    see its statements: the callers are named database operations instead, and
    ``_mark_sent`` pins itself."""
    raw = psycopg_connection_in_tenant()
    # Errors become Django's (ProgrammingError, DatabaseError), as the callers expect.
    with connection.wrap_database_errors, psycopg.Cursor(raw) as cursor:
        yield cursor


# The rows to send, oldest first. The ids are chosen first, narrow, under their own LIMIT:
# with the row locks between LIMIT and ORDER BY in one query, PostgreSQL cannot bound its
# sort, and whenever it plans a scan of the pending rows plus a sort (as it does on a table
# whose statistics are behind a burst of writes) it sorted every pending row, values and
# all, for each batch: 80 ms per 2,000 of a 20,000-row backlog, spilled to disk, and more
# the longer the backlog. Plain SQL rather than the ORM's values_list, whose converters
# (and a json.loads of every row's headers, shared by the rows of one change) cost more.
# No row locks: the tenant's relay lock is the only claim needed (see ``_lock_schema``).
_PENDING_SQL = (f"SELECT id, topic, key, value, headers::text "  # noqa: S608 - our table
                f"FROM {OutboxMessage._meta.db_table} "
                f"WHERE id = ANY(ARRAY(SELECT id FROM {OutboxMessage._meta.db_table} "
                "WHERE sent_at IS NULL ORDER BY id LIMIT %s)) AND sent_at IS NULL "
                "ORDER BY id")

_Row = tuple[int, str, str, bytes, str]


@db_operation("outbox_pending_rows")
def _pending_rows(batch_size: int) -> list[_Row]:
    with _binary_cursor() as cursor:
        cursor.execute(_PENDING_SQL, [batch_size], binary=True)
        return cursor.fetchall()


def _outgoing(rows: list[_Row]) -> list[OutgoingRecord]:
    """The rows as records. Rows written by one change carry the same headers text (its
    trace context): each distinct text is parsed once, and its records share the result,
    which the publish trace and the producer then also work out once per batch."""
    parsed: dict[str, tuple[tuple[str, str], ...]] = {}
    records = []
    for _, topic, key, value, headers_text in rows:
        headers = parsed.get(headers_text)
        if headers is None:
            headers = parsed[headers_text] = tuple(
                (name, text) for name, text in json.loads(headers_text))
        records.append(OutgoingRecord(topic, key, bytes(value), headers))
    return records


def relay_pending(producer: EventProducer, batch_size: int = 2000) -> RelayResult:
    """Send up to ``batch_size`` unsent rows of the current tenant, oldest first.

    Acknowledged rows are marked sent; on an error the failed rows record it and the batch
    stops there, so a later row of a key never overtakes an earlier unsent one.
    """
    schema = require_tenant("The outbox relay")
    with transaction.atomic():
        if not _lock_schema(schema):
            return RelayResult(schema, busy=True)
        rows = _pending_rows(batch_size)
        if not rows:
            return RelayResult(schema)
        published = trace_publish(_outgoing(rows))
        delivery = producer.send_batch(published.records)
        published.settle(delivery)
        if delivery.acked:
            _mark_sent([rows[i][0] for i in delivery.acked])
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
    """One batch per tenant (fair: a big backlog does not starve the others)."""
    return relay_tenants(producer, tenant_schemas(), batch_size, skip)


def relay_tenants(
    producer: EventProducer, schemas: Iterable[str], batch_size: int = 2000,
    skip: Iterable[str] = (),
) -> list[RelayResult]:
    """One batch for each of ``schemas`` (tenant schemas) but those in ``skip``.

    Stops when Kafka is unreachable: the other tenants would only wait for the same timeout.
    A tenant whose schema is not migrated yet (during a deploy) fails alone.
    """
    skipped = set(skip)
    results: list[RelayResult] = []
    for schema in schemas:
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
