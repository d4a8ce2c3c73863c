from __future__ import annotations

from typing import Any

from django.core.management.base import BaseCommand, CommandError, CommandParser

from apps.tenancy.contracts import SCOPES, ApiKeyError
from apps.tenancy.management.key_output import add_expiry_argument, expiry, write_new_key
from apps.tenancy.services import create_api_key


class Command(BaseCommand):
    help = ("Create an API key for a tenant's GraphQL API and print it once "
            "(only a hash is stored).")

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("tenant", help="the tenant's slug")
        parser.add_argument("--scope", required=True, choices=SCOPES,
                            help="read, write (implies read) or admin (implies write)")
        parser.add_argument("--name", default="",
                            help="who or what uses the key (default: '<scope> key')")
        add_expiry_argument(parser, "--expires-in-days", "the key")

    def handle(self, *args: Any, **options: Any) -> None:
        scope: str = options["scope"]
        name = options["name"] or f"{scope} key"
        try:
            key, plaintext = create_api_key(options["tenant"], name, [scope],
                                            expires_at=expiry(options["expires_in_days"]))
        except ApiKeyError as exc:
            raise CommandError(str(exc)) from exc
        self.stdout.write(self.style.SUCCESS(
            f"Created API key {key.prefix} ({name!r}) for tenant {options['tenant']!r}"))
        write_new_key(self.stdout, self.style, plaintext, scope, key.expires_at)
