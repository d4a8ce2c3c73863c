from __future__ import annotations

from typing import Any

from django.core.management.base import BaseCommand, CommandError, CommandParser

from apps.tenancy import services


class Command(BaseCommand):
    help = "Offboard a tenant: drop its schema and all its data. Needs --yes."

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("slug")
        parser.add_argument("--yes", action="store_true",
                            help="confirm that the tenant's data is to be destroyed")

    def handle(self, *args: Any, **options: Any) -> None:
        slug: str = options["slug"]
        if not options["yes"]:
            raise CommandError(
                f"Offboarding drops schema {slug!r} and all its data. "
                f"Run `manage.py offboard_tenant {slug} --yes` to confirm."
            )
        try:
            services.offboard_tenant(slug, progress=self.stdout.write)
        except services.TenancyError as exc:
            raise CommandError(str(exc)) from exc
        self.stdout.write(self.style.SUCCESS(f"Offboarded tenant {slug!r}"))
