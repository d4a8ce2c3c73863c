"""The Django half of the reliable consumers: tenants, transactions and dedupe.

The runner (``dictamesh.events.consumer``) knows Kafka; this module knows the database.
``ProcessedEventStore`` applies a tenant's events in one transaction in that tenant's
schema and records each applied event in ``ProcessedEvent``, so a redelivered event has
no second effect. Which handlers a group runs is the table in ``settings.EVENT_HANDLERS``
(see ``routes.py``).

    build_runner("catalog").run()              # what `manage.py consume` does

The worker's threads that run the groups in the background are in ``consumer_worker.py``.
"""

from __future__ import annotations

import re
import threading
import time
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from datetime import timedelta
from typing import Any

from django.conf import settings
from django.core.exceptions import ImproperlyConfigured
from django.db import connection, transaction
from django.utils import timezone

from apps.events.models import ProcessedEvent
from apps.events.outbox import get_codec
from apps.events.routes import handler_registry
from apps.tenancy import services as tenancy_services
from dictamesh.events.consumer import (
    ApplyResult,
    BatchReport,
    ConsumerRunner,
    ConsumerSettings,
    Decoder,
)
from dictamesh.events.failures import FailureKind, as_permanent, classify
from dictamesh.events.handlers import (
    ConsumedEvent,
    Handler,
    HandlerRegistry,
    PermanentError,
    RetryableError,
    compile_pattern,
)
from dictamesh.events.topic_directory import TopicDirectory

_TENANT_CACHE_SECONDS = 60.0  # an offboarded tenant's events go to the DLQ after this

# One statement both dedupes and records: the rows that were not there yet come back (by
# position: topic, partition and offset, cheaper to read back and compare than UUIDs), and
# only those events are handled; a second copy of an event in the same batch conflicts
# with the first and does not come back. A concurrent member of the group applying the same event
# (during a rebalance) waits on the unique index here and then skips it. The columns travel
# as comma-separated text (no value contains a comma): adapting four Python lists of a
# thousand values each cost more than the insert itself.
_CLAIM_SQL = f"""
    INSERT INTO {ProcessedEvent._meta.db_table}
        (consumer_group, event_id, topic, partition, "offset", processed_at)
    SELECT %s, e.event_id, e.topic, e.partition, e."offset", now()
    FROM unnest(
        string_to_array(%s, ',')::uuid[], string_to_array(%s, ','),
        string_to_array(%s, ',')::integer[], string_to_array(%s, ',')::bigint[]
    ) AS e(event_id, topic, partition, "offset")
    ON CONFLICT (consumer_group, event_id) DO NOTHING
    RETURNING topic, partition, "offset"
"""  # noqa: S608 - the only interpolation is our own table name


@contextmanager
def _transient_errors_are_retryable() -> Iterator[None]:
    """Turn a database that cannot answer into a RetryableError; let the rest through."""
    try:
        yield
    except Exception as exc:
        if classify(exc) is not FailureKind.TRANSIENT or isinstance(exc, RetryableError):
            raise
        connection.close()  # the next attempt reconnects (a no-op if it is still open)
        raise RetryableError(f"The database is unavailable ({exc}); retrying.") from exc


@contextmanager
def _on_schema(tenant: str) -> Iterator[None]:
    """This thread's connection on ``tenant``'s schema, and left there afterwards.

    django-tenants' ``schema_context`` switches back to the public schema on exit, which
    made the next batch (most often of the same tenant) send ``SET search_path`` again: a
    round trip per batch, a tenth of the apply thread's busy samples. The store's
    connection runs only its own transactions, each of which sets its tenant first."""
    connection.set_schema(tenant)  # type: ignore[attr-defined]
    yield


class ProcessedEventStore:
    """The runner's EventStore, on the thread's own database connection."""

    def __init__(self, group: str, *, lock_timeout_ms: int | None = None) -> None:
        self.group = group
        # A transaction that waits longer than this for a lock fails as transient: its
        # partitions are paused and retried, and the other tenants' partitions flow.
        self._lock_timeout_ms = (settings.KAFKA_CONSUMER_LOCK_TIMEOUT_MS
                                 if lock_timeout_ms is None else lock_timeout_ms)
        self._tenants: set[str] = set()
        self._tenants_loaded_at = time.monotonic()
        self._limited_connection: object = None  # the connection whose lock_timeout is set

    def tenant_exists(self, tenant: str) -> bool:
        if time.monotonic() - self._tenants_loaded_at > _TENANT_CACHE_SECONDS:
            self._tenants.clear()
            self._tenants_loaded_at = time.monotonic()
        if tenant in self._tenants:
            return True
        with _transient_errors_are_retryable():
            exists = tenancy_services.tenant_exists(tenant)
        if exists:
            self._tenants.add(tenant)
        return exists

    def apply(
        self, tenant: str, events: Sequence[ConsumedEvent], dispatch: Handler,
        *, unknown_is_permanent: bool = False,
    ) -> ApplyResult:
        """Apply the batch in one transaction. When an event cannot be applied (a
        permanent failure, or an unknown one with ``unknown_is_permanent``), find it by
        applying halves of the batch in savepoints, reject it, and apply the rest.
        The calling thread's connection stays on ``tenant``'s schema afterwards.

        Transient failures raise RetryableError; unknown ones are raised as they are.
        """
        def rejects(exc: Exception) -> bool:
            kind = classify(exc)
            return kind is FailureKind.PERMANENT or (
                unknown_is_permanent and kind is FailureKind.UNKNOWN)

        with _transient_errors_are_retryable():
            self._limit_lock_waits()
            try:
                with _on_schema(tenant), transaction.atomic():
                    fresh, duplicates = self._claim(events)
                    if fresh:
                        dispatch(fresh)
                return ApplyResult(applied=fresh, duplicates=duplicates)
            except Exception as exc:
                if not rejects(exc):
                    raise
            result = ApplyResult()
            self._limit_lock_waits()
            with _on_schema(tenant), transaction.atomic():
                self._isolate(list(events), dispatch, rejects, result)
            return result

    def close(self) -> None:
        connection.close()  # this thread's connection; Django opens a new one if needed

    def _limit_lock_waits(self) -> None:
        """Set the lock timeout for this thread's connection, once per connection: a
        round trip per transaction was a tenth of the apply thread's time. Set outside any
        transaction, so that no rollback undoes it; this connection runs only this store's
        transactions."""
        if self._lock_timeout_ms <= 0:
            return
        connection.ensure_connection()
        if connection.connection is self._limited_connection:
            return
        with connection.cursor() as cursor:
            cursor.execute("SELECT set_config('lock_timeout', %s, false)",
                           [f"{self._lock_timeout_ms}ms"])
        self._limited_connection = connection.connection

    def _isolate(
        self,
        events: list[ConsumedEvent],
        dispatch: Handler,
        rejects: Callable[[Exception], bool],
        result: ApplyResult,
    ) -> None:
        """Apply ``events`` in a savepoint; if that fails with an error ``rejects``, split
        them in halves (in order) until the culprits are single events, and reject those.
        A batch with one bad event costs about 2·log2(n) savepoints, not n."""
        try:
            with transaction.atomic():  # a savepoint: a failed attempt leaves no trace
                fresh, seen = self._claim(events)
                if fresh:
                    dispatch(fresh)
        except Exception as exc:
            if not rejects(exc):
                raise
            named = exc.event if isinstance(exc, PermanentError) else None
            if named is not None and any(e is named for e in events):
                result.rejected.append((named, as_permanent(exc)))
                rest = [e for e in events if e is not named]
                if rest:
                    self._isolate(rest, dispatch, rejects, result)
            elif len(events) == 1:
                permanent = classify(exc) is FailureKind.PERMANENT
                result.rejected.append((events[0], as_permanent(exc, gave_up=not permanent)))
            else:
                middle = len(events) // 2
                self._isolate(events[:middle], dispatch, rejects, result)
                self._isolate(events[middle:], dispatch, rejects, result)
            return
        result.applied.extend(fresh)
        result.duplicates.extend(seen)

    def _claim(
        self, events: Sequence[ConsumedEvent]
    ) -> tuple[list[ConsumedEvent], list[ConsumedEvent]]:
        """Record the events as applied by this group; (new ones, already applied ones)."""
        with connection.cursor() as cursor:
            cursor.execute(_CLAIM_SQL, [
                self.group,
                ",".join([str(event.event_id) for event in events]),
                ",".join([event.topic for event in events]),
                ",".join([str(event.partition) for event in events]),
                ",".join([str(event.offset) for event in events]),
            ])
            claimed = set(cursor.fetchall())
        fresh: list[ConsumedEvent] = []
        duplicates: list[ConsumedEvent] = []
        for event in events:
            if (event.topic, event.partition, event.offset) in claimed:
                fresh.append(event)
            else:
                duplicates.append(event)
        return fresh, duplicates


def consumer_settings(group: str) -> ConsumerSettings:
    """The runner settings of ``group``: the KAFKA_CONSUMER_* settings, with the group's
    own from KAFKA_CONSUMER_GROUP_SETTINGS over them."""
    options: dict[str, Any] = {
        "batch_size": settings.KAFKA_CONSUMER_BATCH_SIZE,
        "batch_max_wait_ms": settings.KAFKA_CONSUMER_BATCH_MAX_WAIT_MS,
        "fetch_max_wait_ms": settings.KAFKA_CONSUMER_FETCH_MAX_WAIT_MS,
        "session_timeout_ms": settings.KAFKA_CONSUMER_SESSION_TIMEOUT_MS,
        "heartbeat_interval_ms": settings.KAFKA_CONSUMER_HEARTBEAT_INTERVAL_MS,
        "max_poll_interval_ms": settings.KAFKA_CONSUMER_MAX_POLL_INTERVAL_MS,
        "metadata_max_age_ms": settings.KAFKA_CONSUMER_METADATA_MAX_AGE_MS,
        "max_partition_fetch_bytes": settings.KAFKA_CONSUMER_MAX_PARTITION_FETCH_BYTES,
        "commit_timeout_ms": settings.KAFKA_CONSUMER_COMMIT_TIMEOUT_MS,
        "retry_backoff_ms": settings.KAFKA_CONSUMER_RETRY_BACKOFF_MS,
        "retry_backoff_max_ms": settings.KAFKA_CONSUMER_RETRY_BACKOFF_MAX_MS,
        "max_attempts": settings.KAFKA_CONSUMER_MAX_ATTEMPTS,
    }
    own = settings.KAFKA_CONSUMER_GROUP_SETTINGS.get(group, {})
    unknown = sorted(set(own) - set(options))
    if unknown:
        raise ImproperlyConfigured(
            f"KAFKA_CONSUMER_GROUP_SETTINGS[{group!r}] names {', '.join(unknown)}, which a "
            f"group cannot set; it may set {', '.join(options)}.")
    try:
        return ConsumerSettings(bootstrap_servers=settings.KAFKA_BOOTSTRAP_SERVERS,
                                group=group, **{**options, **own})
    except ValueError as exc:
        raise ImproperlyConfigured(str(exc)) from None


def build_runner(
    group: str,
    *,
    topics: str | re.Pattern[str] | None = None,
    handlers: HandlerRegistry | None = None,
    codec: Decoder | None = None,
    stop_event: threading.Event | None = None,
    on_batch: Callable[[BatchReport], None] | None = None,
    topic_directory: TopicDirectory | None = None,
) -> ConsumerRunner:
    """A runner for ``group``'s handlers, limited to ``topics`` (a glob or regex) if given;
    it follows the cluster's topics through ``topic_directory`` (default: the process')."""
    if handlers is None:
        handlers = handler_registry()
    routes = handlers.routes(group)
    if not routes:
        raise ImproperlyConfigured(
            f"Consumer group {group!r} has no handlers: add it to EVENT_HANDLERS in the "
            f"settings, e.g. {{{group!r}: {{'<topic glob>': ['<dotted path of a handler>']}}}} "
            f"(groups with handlers: {', '.join(handlers.groups()) or 'none'})."
        )
    return ConsumerRunner(
        consumer_settings(group),
        routes,
        codec or get_codec(),  # the process' codec, shared with the outbox
        ProcessedEventStore(group),
        only_topics=compile_pattern(topics) if topics is not None else None,
        stop_event=stop_event,
        on_batch=on_batch,
        topic_directory=topic_directory,
    )


def purge_processed(older_than: timedelta, *, dry_run: bool = False) -> int:
    """Delete the current tenant's dedupe records processed before now - ``older_than``
    (with ``dry_run``: count them)."""
    old = ProcessedEvent.objects.filter(processed_at__lt=timezone.now() - older_than)
    if dry_run:
        return old.count()
    deleted, _ = old.delete()
    return deleted
