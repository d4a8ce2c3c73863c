"""Per-tenant retention: how long each kind of housekeeping data is kept, in days.

Stored on ``Tenant.retention`` as overrides of the platform defaults (settings, below), for
example ``{"event_log_days": 365}``; ``manage.py apply_retention`` and its periodic task
read the merged policy. Only the keys named here are accepted, so a typo is refused
rather than silently keeping data forever.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from django.conf import settings
from django.core.exceptions import ValidationError

# key → what it keeps (the defaults: default_policy)
RETENTION_KEYS: dict[str, str] = {
    "audit_log_days": "audit log entries",
    "dead_letter_days": "dead-letter topic records (retention.ms of <tenant>.*.dlq)",
    "event_log_days": "catalog event log entries",
    "outbox_sent_days": "outbox rows Kafka acknowledged",
    "processed_events_days": "consumer dedupe records",
}
MAX_DAYS = 36_500


@dataclass(frozen=True)
class RetentionPolicy:
    """Days to keep each kind of data for one tenant (defaults merged with overrides)."""

    audit_log_days: int
    dead_letter_days: int
    event_log_days: int
    outbox_sent_days: int
    processed_events_days: int


def validate_retention(value: Any) -> dict[str, int]:
    """``value`` checked and returned as a plain dict; ValidationError names what is wrong."""
    if not isinstance(value, Mapping):
        raise ValidationError('Retention must be a JSON object such as {"event_log_days": 90}.')
    problems = []
    for key, days in value.items():
        if key not in RETENTION_KEYS:
            problems.append(f"unknown retention {key!r} (known: {', '.join(RETENTION_KEYS)})")
        elif isinstance(days, bool) or not isinstance(days, int) or not 1 <= days <= MAX_DAYS:
            problems.append(f"{key} must be a whole number of days in 1..{MAX_DAYS}, "
                            f"not {days!r}")
    if problems:
        raise ValidationError("; ".join(problems))
    return dict(value)


def default_policy() -> RetentionPolicy:
    """The platform's defaults, from the *_RETENTION_DAYS settings and, for dead letters,
    the topic spec's ``[dead_letter] retention_days`` (deploy/kafka/topics.toml)."""
    from dictamesh.events.topics import DAY_MS, configured_spec

    return RetentionPolicy(
        audit_log_days=settings.AUDIT_LOG_RETENTION_DAYS,
        dead_letter_days=configured_spec().dead_letter_retention_ms // DAY_MS,
        event_log_days=settings.EVENT_LOG_RETENTION_DAYS,
        outbox_sent_days=settings.OUTBOX_SENT_RETENTION_DAYS,
        processed_events_days=settings.KAFKA_PROCESSED_EVENTS_RETENTION_DAYS)


def policy_from(overrides: Mapping[str, Any]) -> RetentionPolicy:
    """The defaults with a tenant's (valid) overrides applied."""
    merged = {**default_policy().__dict__, **validate_retention(overrides)}
    return RetentionPolicy(**merged)


def tenant_retention(slug: str) -> RetentionPolicy:
    """The tenant's merged policy (LookupError for an unknown tenant)."""
    from apps.tenancy.models import Tenant  # models import this module for the validator

    overrides = Tenant.objects.filter(schema_name=slug).values_list("retention", flat=True)
    if not overrides.exists():
        raise LookupError(f"No tenant {slug!r}: `manage.py list_tenants` shows the tenants.")
    return policy_from(overrides.first() or {})


def set_tenant_retention(slug: str, overrides: Mapping[str, Any]) -> RetentionPolicy:
    """Replace the tenant's overrides (``{}``: the defaults); returns the merged policy."""
    from apps.tenancy.audit import record_audit
    from apps.tenancy.models import Tenant

    checked = validate_retention(overrides)
    before = Tenant.objects.filter(schema_name=slug).values_list("retention", flat=True).first()
    if not Tenant.objects.filter(schema_name=slug).update(retention=checked):
        raise LookupError(f"No tenant {slug!r}: `manage.py list_tenants` shows the tenants.")
    record_audit("config.changed", object_type="retention", object_id=slug, tenant=slug,
                 before=before, after=checked, detail={"retention": checked})
    return policy_from(checked)
