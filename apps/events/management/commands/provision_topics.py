from __future__ import annotations

from typing import Any

import yaml
from django.conf import settings
from django.core.management.base import BaseCommand, CommandError, CommandParser

from apps.tenancy.services import (
    tenant_exists,
    tenant_partition_tiers,
    tenant_retention,
    tenant_schemas,
)
from dictamesh.events.strimzi import strimzi_resources
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
        "never changed; where they differ from the spec, the drift is reported. With "
        "--format strimzi, print the same topics as Strimzi KafkaTopic resources instead, "
        "with a KafkaUser per tenant that reaches only its `<tenant>.` topics and groups "
        "(`| kubectl apply -n <namespace> -f -`); Kafka is not contacted then."
    )

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("--tenant", metavar="SLUG", help="only this tenant's topics")
        parser.add_argument("--dry-run", action="store_true",
                            help="show what would be created; change nothing")
        parser.add_argument("--format", choices=("kafka", "strimzi"), default="kafka",
                            help="kafka: create the topics on KAFKA_BOOTSTRAP_SERVERS "
                                 "(default); strimzi: print KafkaTopic and KafkaUser YAML")
        parser.add_argument("--cluster", default="dictamesh", metavar="NAME",
                            help="with --format strimzi: the Kafka resource's name "
                                 "(strimzi.io/cluster label; default dictamesh)")
        parser.add_argument("--max-replicas", type=int, metavar="N",
                            help="with --format strimzi: cap each topic's replicas at the "
                                 "cluster's broker count (the spec asks for 3)")

    def handle(self, *args: Any, **options: Any) -> None:
        slug: str | None = options["tenant"]
        strimzi = options["format"] == "strimzi"
        if not strimzi and options["max_replicas"] is not None:
            raise CommandError("--max-replicas applies to --format strimzi; with --format "
                               "kafka, replication is capped at the cluster's brokers.")
        if strimzi and options["dry_run"]:
            raise CommandError("--format strimzi only prints resources: drop --dry-run.")
        if options["max_replicas"] is not None and options["max_replicas"] < 1:
            raise CommandError("--max-replicas must be at least 1.")
        if slug and not tenant_exists(slug):
            raise CommandError(f"No tenant {slug!r}: `manage.py list_tenants` shows them.")
        tenants = [slug] if slug else list(tenant_schemas())
        try:
            if strimzi:
                self._print_strimzi(tenants, include_global=not slug, options=options)
                return
            report = self._provision(tenants, include_global=not slug,
                                     dry_run=options["dry_run"])
        except (TopicError, TopicProvisioningError) as exc:
            raise CommandError(str(exc)) from exc
        self._summarise(report)

    def _provision(self, tenants: list[str], *, include_global: bool,
                   dry_run: bool) -> ProvisionReport:
        spec = configured_spec()
        topics = spec.global_topics() if include_global else []
        own_retention = _own_dead_letter_retention(tenants)
        tiers = tenant_partition_tiers(tenants)
        for tenant in tenants:
            topics += spec.for_tenant(tenant, dead_letter_retention_ms=own_retention[tenant],
                                      partition_tier=tiers.get(tenant))
        admin = open_admin(settings.KAFKA_BOOTSTRAP_SERVERS)
        try:
            return provision(admin, topics, dry_run=dry_run, progress=self.stdout.write)
        finally:
            admin.close()

    def _print_strimzi(self, tenants: list[str], *, include_global: bool,
                       options: dict[str, Any]) -> None:
        resources = strimzi_resources(configured_spec(), tenants, include_global=include_global,
                                      cluster=options["cluster"],
                                      max_replicas=options["max_replicas"],
                                      dead_letter_retention_ms=_own_dead_letter_retention(tenants),
                                      partition_tiers=tenant_partition_tiers(tenants))
        self.stdout.write(yaml.safe_dump_all(resources, sort_keys=False), ending="")

    def _summarise(self, report: ProvisionReport) -> None:
        summary = (f"{len(report.created)} created, {len(report.would_create)} to create, "
                   f"{len(report.unchanged)} up to date, {len(report.drift)} drift, "
                   f"{len(report.errors)} errors")
        if report.errors:
            raise CommandError(f"Topics not all provisioned: {summary}.")
        style = self.style.WARNING if report.drift else self.style.SUCCESS
        self.stdout.write(style(summary))


def _own_dead_letter_retention(tenants: list[str]) -> dict[str, int]:
    """Each tenant's dead-letter retention by its policy: its own setting, not drift."""
    return {tenant: tenant_retention(tenant).dead_letter_days * DAY_MS for tenant in tenants}
