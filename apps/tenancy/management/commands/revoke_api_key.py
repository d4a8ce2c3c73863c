from __future__ import annotations

from typing import Any

from django.core.management.base import BaseCommand, CommandError, CommandParser

from apps.tenancy.contracts import ApiKeyError
from apps.tenancy.services import revoke_api_key


class Command(BaseCommand):
    help = "Revoke a tenant's API key by its prefix (the part after the tenant in the key)."

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("tenant", help="the tenant's slug")
        parser.add_argument("prefix", help="the key's 12-character public prefix")

    def handle(self, *args: Any, **options: Any) -> None:
        try:
            key = revoke_api_key(options["tenant"], options["prefix"])
        except ApiKeyError as exc:
            raise CommandError(str(exc)) from exc
        self.stdout.write(self.style.SUCCESS(
            f"Revoked API key {key.prefix} ({key.name!r}); requests with it now get 401."))
