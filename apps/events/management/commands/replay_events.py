from __future__ import annotations

import time
from datetime import datetime
from typing import Any

from django.conf import settings
from django.core.management.base import BaseCommand, CommandError, CommandParser
from django.utils import timezone

from apps.events import relay, replay
from apps.events.contracts import OutboxError
from apps.tenancy.services import tenant_exists
from dictamesh.events.producer import EventProducer
from dictamesh.tenancy import tenant_context

# Give up waiting (the rows stay queued for the worker's relay) after this long without
# progress, e.g. while Kafka is still down.
STALL_SECONDS = 60.0


def _parse_since(value: str) -> datetime:
    try:
        since = datetime.fromisoformat(value)
    except ValueError:
        raise CommandError(f"--since {value!r} is not an ISO 8601 time "
                           "(e.g. 2026-01-31T12:00:00Z).") from None
    if timezone.is_aware(since) and since > timezone.now():
        raise CommandError(f"--since {value!r} is in the future.")
    return since


class Command(BaseCommand):
    help = (
        "Publish a tenant's events again (after Kafka lost data): the outbox rows created "
        "since --since are queued again and relayed in their original order. Consumers "
        "drop events they already applied (by event_id), so replaying is safe. Only "
        "rows younger than OUTBOX_SENT_RETENTION_DAYS are still there to replay."
    )

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("--tenant", metavar="SLUG", required=True)
        parser.add_argument("--since", metavar="ISO8601", required=True,
                            help="replay events created at or after this time")
        parser.add_argument("--topic", metavar="PATTERN",
                            help="only topics matching this shell pattern (e.g. 'customers.*')")
        parser.add_argument("--dry-run", action="store_true",
                            help="count what would be replayed; change nothing")

    def handle(self, *args: Any, **options: Any) -> None:
        slug: str = options["tenant"]
        since = _parse_since(options["since"])
        if not tenant_exists(slug):
            raise CommandError(f"No tenant {slug!r}: `manage.py list_tenants` shows them.")
        with tenant_context(slug):
            try:
                plan = replay.requeue_for_replay(since, options["topic"],
                                                 dry_run=options["dry_run"])
            except OutboxError as exc:
                raise CommandError(str(exc)) from exc
            verb = "Would replay" if options["dry_run"] else "Queued again"
            self.stdout.write(f"{verb} {plan.rows} events of {slug!r} since "
                              f"{since.isoformat()} on {', '.join(plan.topics) or 'no topics'}")
            if plan.last_id is None or options["dry_run"]:
                return
            with EventProducer.from_settings() as producer:
                self._relay(producer, plan.rows, plan.last_id)
        self.stdout.write(self.style.SUCCESS(f"Replayed {plan.rows} events of {slug!r}."))

    def _relay(self, producer: EventProducer, rows: int, last_id: int) -> None:
        """Relay until every queued row is sent (by us, or by a worker's relay)."""
        left = replay.unsent_through(last_id)
        last_progress = time.monotonic()
        while left:
            result = relay.relay_pending(producer, settings.OUTBOX_RELAY_BATCH_SIZE)
            now_left = replay.unsent_through(last_id)
            if now_left < left:
                last_progress = time.monotonic()
                self.stdout.write(f"  {rows - min(now_left, rows)}/{rows} sent")
            elif time.monotonic() - last_progress > STALL_SECONDS:
                raise CommandError(
                    f"No progress for {STALL_SECONDS:.0f}s ({result.error or 'relay busy'}). "
                    f"The {now_left} events left stay queued; the worker's outbox relay sends "
                    "them when Kafka is back."
                )
            if result.error or result.busy:
                time.sleep(1.0)
            left = now_left
