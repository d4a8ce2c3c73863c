from __future__ import annotations

from typing import Any

from django.core.management.base import BaseCommand, CommandError, CommandParser

from apps.catalog.retention import apply_retention
from apps.tenancy.services import tenant_exists


class Command(BaseCommand):
    help = (
        "Remove each tenant's data older than its retention (Tenant.retention over the "
        "EVENT_LOG_, OUTBOX_SENT_ and KAFKA_PROCESSED_EVENTS_RETENTION_DAYS settings): event "
        "log entries, sent outbox rows, consumer dedupe records. --dry-run prints what would "
        "be removed and removes nothing."
    )

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("--tenant", metavar="SLUG", help="only this tenant")
        parser.add_argument("--dry-run", action="store_true",
                            help="count what would be removed; change nothing")

    def handle(self, *args: Any, **options: Any) -> None:
        slug: str | None = options["tenant"]
        if slug and not tenant_exists(slug):
            raise CommandError(f"No tenant {slug!r}: `manage.py list_tenants` shows them.")
        dry_run: bool = options["dry_run"]
        outcomes = apply_retention([slug] if slug else None, dry_run=dry_run)
        verb = "would remove" if dry_run else "removed"
        for outcome in outcomes:
            self.stdout.write(f"{outcome.tenant:<24} {outcome.kind:<18} "
                              f"keep {outcome.days:>5} days  {verb} {outcome.rows}")
        total = sum(outcome.rows for outcome in outcomes)
        self.stdout.write(f"{len({o.tenant for o in outcomes})} tenant(s): {verb} {total} "
                          "row(s)" + (" (dry run: nothing changed)" if dry_run else ""))
