from __future__ import annotations

from typing import Any

from django.conf import settings
from django.contrib.auth import get_user_model
from django.core.management.base import BaseCommand, CommandError, CommandParser


class Command(BaseCommand):
    help = "Create a superuser for local development if it does not exist (DEBUG only)."

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("username")
        parser.add_argument("password")

    def handle(self, *args: Any, **options: Any) -> None:
        if not settings.DEBUG:
            raise CommandError("ensure_dev_superuser is for local development: DEBUG is off. "
                               "Use `manage.py createsuperuser` instead.")
        users = get_user_model()
        if users.objects.filter(username=options["username"]).exists():
            return
        users.objects.create_superuser(options["username"], "", options["password"])
        self.stdout.write(f"Created superuser {options['username']!r}")
