"""Retention: each tenant's old housekeeping data removed by its policy (Tenant.retention
over the *_RETENTION_DAYS settings), or counted with ``dry_run``.

It lives in the catalog because the event log is the catalog's and the catalog may call
the events app below it (outbox rows Kafka acknowledged, consumer dedupe records). The
event log is immutable; its purge is the one privileged path the database allows
(apps/catalog/services.purge_event_log). Dead-letter topics keep what Kafka's retention.ms
keeps (deploy/kafka/topics.toml, applied by provision_topics).
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from dataclasses import dataclass
from datetime import timedelta

from apps.catalog.services import purge_event_log
from apps.events.services import purge_processed, purge_sent
from apps.tenancy.services import purge_audit_log, tenant_retention, tenant_schemas
from dictamesh.observability.logging import get_logger
from dictamesh.tenancy import tenant_context

log = get_logger(__name__)

Purge = Callable[..., int]  # (older_than, *, dry_run) -> rows


@dataclass(frozen=True)
class RetentionOutcome:
    tenant: str
    kind: str
    days: int
    rows: int  # removed, or that would be with dry_run
    dry_run: bool


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
    removed = sum(o.rows for o in outcomes)
    if not dry_run and removed:
        log.info("retention applied", rows=removed,
                 by_kind={k: sum(o.rows for o in outcomes if o.kind == k) for k, _, _ in _KINDS})
    return outcomes
