"""Retention: each tenant's old housekeeping data removed by its policy (Tenant.retention
over the *_RETENTION_DAYS settings), or counted with ``dry_run``.

It lives in the catalog because the event log is the catalog's and the catalog may call
the events app below it (outbox rows Kafka acknowledged, consumer dedupe records). The
event log is immutable; its purge is the one privileged path the database allows
(apps/catalog/services.purge_event_log). Dead-letter topics are Kafka's to trim: the
tenant's ``dead_letter_days`` is set as ``retention.ms`` on its ``<tenant>.*.dlq`` topics
(dictamesh/events/topic_retention.py). A Kafka outage does not stop the database purges;
it is reported on that tenant's dead-letter outcome.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from dataclasses import dataclass
from datetime import timedelta

from apps.catalog.services import purge_event_log
from apps.events.services import purge_processed, purge_sent
from apps.tenancy.services import purge_audit_log, tenant_retention, tenant_schemas
from dictamesh.events.topic_retention import set_dead_letter_retention
from dictamesh.events.topics import DAY_MS, TopicProvisioningError
from dictamesh.observability.logging import get_logger
from dictamesh.tenancy import tenant_context

log = get_logger(__name__)

Purge = Callable[..., int]  # (older_than, *, dry_run) -> rows


@dataclass(frozen=True)
class RetentionOutcome:
    tenant: str
    kind: str
    days: int
    rows: int  # removed, or that would be with dry_run (topics changed, for dead letters)
    dry_run: bool
    unit: str = "rows"
    error: str | None = None  # why this kind could not be applied (the others were)


_KINDS: tuple[tuple[str, str, Purge], ...] = (
    ("event_log", "event_log_days", purge_event_log),
    ("outbox_sent", "outbox_sent_days", purge_sent),
    ("processed_events", "processed_events_days", purge_processed),
    ("audit_log", "audit_log_days", purge_audit_log),  # this tenant's entries
)


def apply_retention(tenants: Iterable[str] | None = None, *,
                    dry_run: bool = False) -> list[RetentionOutcome]:
    """Apply (or with ``dry_run`` only count) every tenant's retention, or ``tenants``'."""
    outcomes = []
    for schema in tenants if tenants is not None else tenant_schemas():
        policy = tenant_retention(schema)
        with tenant_context(schema):
            for kind, field, purge in _KINDS:
                days = getattr(policy, field)
                rows = purge(timedelta(days=days), dry_run=dry_run)
                outcomes.append(RetentionOutcome(schema, kind, days, rows, dry_run))
        outcomes.append(_dead_letter_outcome(schema, policy.dead_letter_days, dry_run))
    removed = sum(o.rows for o in outcomes if o.unit == "rows")
    if not dry_run and removed:
        log.info("retention applied", rows=removed,
                 by_kind={k: sum(o.rows for o in outcomes if o.kind == k) for k, _, _ in _KINDS})
    return outcomes


def _dead_letter_outcome(schema: str, days: int, dry_run: bool) -> RetentionOutcome:
    """The tenant's dead-letter topics set to keep ``days``: the topics changed."""
    try:
        changes = set_dead_letter_retention(schema, days * DAY_MS, dry_run=dry_run)
    except TopicProvisioningError as exc:
        log.warning("dead-letter retention not applied", tenant=schema, error=str(exc))
        return RetentionOutcome(schema, "dead_letter_topics", days, 0, dry_run, "topics",
                                error=str(exc))
    for change in changes:
        log.info("dead-letter topic retention changed" if not dry_run else
                 "dead-letter topic retention would change", tenant=schema, topic=change.topic,
                 before_ms=change.before_ms, after_ms=change.after_ms, dry_run=dry_run)
    return RetentionOutcome(schema, "dead_letter_topics", days, len(changes), dry_run, "topics")
