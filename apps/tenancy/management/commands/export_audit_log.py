from __future__ import annotations

from datetime import datetime
from typing import Any

from django.core.management.base import BaseCommand, CommandError, CommandParser
from django.utils.dateparse import parse_datetime

from apps.tenancy.audit import AuditFilter, audit_entries, export_jsonl
from apps.tenancy.services import tenant_exists

_PAGE = 1000


def _moment(value: str | None, option: str) -> datetime | None:
    if value is None:
        return None
    parsed = parse_datetime(value)
    if parsed is None:
        raise CommandError(f"{option} {value!r}: give an ISO 8601 time such as "
                           "2026-01-31T00:00:00Z.")
    return parsed


class Command(BaseCommand):
    help = ("Write the audit log as JSON lines (newest first) to stdout: every entry, one "
            "tenant's (--tenant SLUG), or the platform's own (--platform).")

    def add_arguments(self, parser: CommandParser) -> None:
        which = parser.add_mutually_exclusive_group()
        which.add_argument("--tenant", metavar="SLUG")
        which.add_argument("--platform", action="store_true")
        parser.add_argument("--action", help='an action, or a prefix ending in "."')
        parser.add_argument("--since", help="ISO 8601 time, inclusive")
        parser.add_argument("--until", help="ISO 8601 time, exclusive")

    def handle(self, *args: Any, **options: Any) -> None:
        slug: str | None = options["tenant"]
        if slug and not tenant_exists(slug):
            # An offboarded tenant's entries stay: export them all the same, but say so.
            self.stderr.write(f"Note: no tenant {slug!r} now; exporting its entries kept.")
        filters = AuditFilter(tenant="" if options["platform"] else slug,
                              action=options["action"],
                              since=_moment(options["since"], "--since"),
                              until=_moment(options["until"], "--until"))
        after_id = None
        while True:
            page = audit_entries(filters, after_id=after_id, limit=_PAGE)
            export_jsonl(page, self.stdout)
            if len(page) < _PAGE:
                return
            after_id = page[-1].id
