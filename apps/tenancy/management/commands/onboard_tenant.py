from __future__ import annotations

from typing import Any

from django.core.management.base import BaseCommand, CommandError, CommandParser

from apps.tenancy import services
from apps.tenancy.contracts import MembershipError
from apps.tenancy.management.key_output import (
    add_expiry_argument,
    expiry,
    write_new_key,
    write_new_member,
)


class Command(BaseCommand):
    help = (
        "Onboard a tenant: create its schema, run its migrations and register its domain. "
        "Safe to run again; it then brings the schema up to date."
    )

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("slug", help="schema name and topic prefix, e.g. 'acme'")
        parser.add_argument("--name", help="display name (default: the slug, capitalised)")
        parser.add_argument("--domain", help="host name routed to the tenant "
                            "(default: <slug>.localhost)")
        parser.add_argument("--admin-user", help="make this user (created if missing, with "
                            "a password printed once) the tenant's first admin")
        parser.add_argument("--partition-tier",
                            help="partition tier of its Kafka topics, from the topic spec's "
                                 "[partition_tiers] (default: the spec's default; 'small' "
                                 "for the long tail: one partition per topic)")
        add_expiry_argument(parser, "--admin-key-expires-in-days",
                            "the admin API key made on the first run")

    def handle(self, *args: Any, **options: Any) -> None:
        slug: str = options["slug"]
        name = options["name"] or slug.replace("_", " ").title()
        domain = options["domain"] or f"{slug.replace('_', '-')}.localhost"
        expires_at = expiry(options["admin_key_expires_in_days"])
        try:
            result = services.onboard_tenant(
                slug, name=name, domain=domain, progress=self.stdout.write,
                admin_username=options["admin_user"],
                admin_key_expires_at=expires_at,
                partition_tier=options["partition_tier"],
            )
        except (services.TenancyError, MembershipError) as exc:
            raise CommandError(str(exc)) from exc
        verb = "Onboarded" if result.tenant_created else "Already onboarded, up to date:"
        self.stdout.write(self.style.SUCCESS(f"{verb} tenant {slug!r} at {domain}"))
        if result.admin_key:
            write_new_key(self.stdout, self.style, result.admin_key, "admin", expires_at)
        if result.admin_user:
            write_new_member(self.stdout, self.style, slug, result.admin_user)
