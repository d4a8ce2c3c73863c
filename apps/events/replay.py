"""Replay: publish a tenant's already-sent events again (after Kafka lost data).

``requeue_for_replay`` marks the chosen sent rows unsent; the relay then sends them again
in their original order. Consumers dedupe by ``event_id``, so a replay has no second effect
on them.
"""

from __future__ import annotations

import fnmatch
from dataclasses import dataclass
from datetime import datetime

from django.db import transaction
from django.db.models import Max
from django.utils import timezone

from apps.events.contracts import OutboxError
from apps.events.models import OutboxMessage
from apps.events.outbox import notify_relay, require_tenant
from dictamesh.events.topics import parse_topic


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
    schema = require_tenant("Replaying events")
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
        if not dry_run and chosen.update(sent_at=None):
            notify_relay(schema)  # or the relay finds them at its next full pass
    return ReplayPlan(rows, last_id, tuple(topics))


def unsent_through(last_id: int) -> int:
    """How many rows up to ``last_id`` the relay still has to send."""
    return OutboxMessage.objects.filter(id__lte=last_id, sent_at__isnull=True).count()
