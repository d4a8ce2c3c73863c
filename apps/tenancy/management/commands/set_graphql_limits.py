from __future__ import annotations

import json
from typing import Any

from django.core.exceptions import ValidationError
from django.core.management.base import BaseCommand, CommandError, CommandParser

from apps.tenancy.graphql_limits import LIMIT_SPECS, set_tenant_graphql_limits


def _on_off(value: str) -> bool:
    lowered = value.lower()
    if lowered in {"on", "true", "yes", "1"}:
        return True
    if lowered in {"off", "false", "no", "0"}:
        return False
    raise ValueError(value)


class Command(BaseCommand):
    help = ("Set a tenant's overrides of the GraphQL limits (depth, cost, aliases, tokens, "
            "batch size, introspection, rate limit). Limits not named keep their value.")

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("tenant", help="the tenant's slug")
        for key, spec in LIMIT_SPECS.items():
            option = "--" + key.replace("_", "-")
            if spec.kind is bool:
                parser.add_argument(option, dest=key, type=_on_off, metavar="on|off",
                                    help=spec.help)
            else:
                parser.add_argument(option, dest=key, type=int, metavar="N",
                                    help=f"{spec.help} ({spec.minimum}..{spec.maximum})")
        parser.add_argument("--unset", action="append", default=[], metavar="LIMIT",
                            help="remove this override (e.g. max_depth); repeatable")
        parser.add_argument("--clear", action="store_true",
                            help="remove every override: the platform defaults apply")

    def handle(self, *args: Any, **options: Any) -> None:
        changes = {key: options[key] for key in LIMIT_SPECS if options.get(key) is not None}
        unset = tuple(name.replace("-", "_") for name in options["unset"])
        try:
            stored = set_tenant_graphql_limits(options["tenant"], changes, unset=unset,
                                               clear=options["clear"])
        except (ValidationError, LookupError) as exc:
            message = "; ".join(exc.messages) if isinstance(exc, ValidationError) else exc.args[0]
            raise CommandError(message) from exc
        self.stdout.write(self.style.SUCCESS(
            f"GraphQL limits of tenant {options['tenant']!r}: "
            f"{json.dumps(stored, sort_keys=True) if stored else 'platform defaults'}"))
