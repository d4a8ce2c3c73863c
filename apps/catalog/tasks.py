"""The catalog's periodic housekeeping (scheduled in config/celery.py)."""

from __future__ import annotations

from celery import shared_task

from apps.catalog.retention import apply_retention


@shared_task(name="catalog.apply_retention", acks_late=True, ignore_result=True, expires=3600)
def apply_retention_task() -> int:
    """Every tenant's retention policy; the rows removed."""
    return sum(outcome.rows for outcome in apply_retention() if outcome.unit == "rows")
