from __future__ import annotations

from typing import Any

from django.core.management.base import BaseCommand, CommandError, CommandParser

from apps.catalog.retention import apply_retention
from apps.tenancy.services import tenant_exists


class Command(BaseCommand):
    help = (
        "Remove each tenant's data older than its retention (Tenant.retention over the "
        "*_RETENTION_DAYS settings): event log entries, sent outbox rows, consumer dedupe "
        "records, audit entries; and sets its dead-letter topics' retention.ms to its "
        "dead_letter_days. --dry-run prints what would be removed or changed and changes "
        "nothing."
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
            head = f"{outcome.tenant:<24} {outcome.kind:<18} keep {outcome.days:>5} days  "
            if outcome.error:
                self.stderr.write(f"{head}NOT APPLIED: {outcome.error}")
            elif outcome.unit == "rows":
                self.stdout.write(f"{head}{verb} {outcome.rows}")
            else:
                changed = "would change" if dry_run else "changed"
                self.stdout.write(f"{head}{changed} {outcome.rows} {outcome.unit}")
        total = sum(outcome.rows for outcome in outcomes if outcome.unit == "rows")
        self.stdout.write(f"{len({o.tenant for o in outcomes})} tenant(s): {verb} {total} "
                          "row(s)" + (" (dry run: nothing changed)" if dry_run else ""))
        failed = sorted({f"{o.tenant} {o.kind}" for o in outcomes if o.error})
        if failed:
            raise CommandError(f"Not applied: {', '.join(failed)} (see above); the rest was.")
