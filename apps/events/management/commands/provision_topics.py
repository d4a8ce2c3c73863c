from __future__ import annotations

from typing import Any

from django.conf import settings
from django.core.management.base import BaseCommand, CommandError, CommandParser

from apps.tenancy.services import tenant_exists, tenant_retention, tenant_schemas
from dictamesh.events.topics import (
    DAY_MS,
    ProvisionReport,
    TopicError,
    TopicProvisioningError,
    configured_spec,
    open_admin,
    provision,
)


class Command(BaseCommand):
    help = (
        "Create the Kafka topics of the topic spec (KAFKA_TOPIC_SPEC) that are missing: the "
        "global ones and every tenant's (or one tenant's with --tenant). Existing topics are "
        "never changed; where they differ from the spec, the drift is reported."
    )

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("--tenant", metavar="SLUG", help="only this tenant's topics")
        parser.add_argument("--dry-run", action="store_true",
                            help="show what would be created; change nothing")

    def handle(self, *args: Any, **options: Any) -> None:
        slug: str | None = options["tenant"]
        if slug and not tenant_exists(slug):
            raise CommandError(f"No tenant {slug!r}: `manage.py list_tenants` shows them.")
        try:
            spec = configured_spec()
            topics = [] if slug else spec.global_topics()
            for tenant in [slug] if slug else tenant_schemas():
                # A tenant's own dead-letter retention is its policy, not drift.
                dead_letters_ms = tenant_retention(tenant).dead_letter_days * DAY_MS
                topics += spec.for_tenant(tenant, dead_letter_retention_ms=dead_letters_ms)
            admin = open_admin(settings.KAFKA_BOOTSTRAP_SERVERS)
            try:
                report = provision(admin, topics, dry_run=options["dry_run"],
                                   progress=self.stdout.write)
            finally:
                admin.close()
        except (TopicError, TopicProvisioningError) as exc:
            raise CommandError(str(exc)) from exc
        self._summarise(report)

    def _summarise(self, report: ProvisionReport) -> None:
        summary = (f"{len(report.created)} created, {len(report.would_create)} to create, "
                   f"{len(report.unchanged)} up to date, {len(report.drift)} drift, "
                   f"{len(report.errors)} errors")
        if report.errors:
            raise CommandError(f"Topics not all provisioned: {summary}.")
        style = self.style.WARNING if report.drift else self.style.SUCCESS
        self.stdout.write(style(summary))
