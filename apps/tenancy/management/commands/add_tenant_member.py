from __future__ import annotations

from typing import Any

from django.core.management.base import BaseCommand, CommandError, CommandParser

from apps.tenancy import services
from apps.tenancy.contracts import MembershipError
from apps.tenancy.management.key_output import write_new_member


class Command(BaseCommand):
    help = (
        "Give a user a role in a tenant (viewer, curator or admin); a missing user is "
        "created with a random password, printed once. With --remove, end the membership."
    )

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("tenant", help="the tenant's slug")
        parser.add_argument("username")
        parser.add_argument("--role", choices=services.Role.values, default="viewer")
        parser.add_argument("--remove", action="store_true", help="end the membership")

    def handle(self, *args: Any, **options: Any) -> None:
        tenant, username = options["tenant"], options["username"]
        if options["remove"]:
            removed = services.remove_member(tenant, username)
            self.stdout.write(f"Removed {username!r} from {tenant!r}." if removed else
                              f"{username!r} was not a member of {tenant!r}.")
            return
        try:
            member = services.add_member(tenant, username, options["role"])
        except MembershipError as exc:
            raise CommandError(str(exc)) from exc
        write_new_member(self.stdout, self.style, tenant, member)
