"""Write the GraphQL schemas to SDL files: the unified API and each domain's subgraph.

Operators need them where introspection is off: to compose the supergraph (Apollo rover,
GraphQL Hive), to check a change for breakage, to generate clients.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from django.core.management.base import BaseCommand, CommandError, CommandParser

from apps.federation.services import schema_sdl_files
from apps.tenancy.services import tenant_schemas


class Command(BaseCommand):
    help = (
        "Write each GraphQL schema's SDL into a directory: unified.graphql (what /graphql "
        "serves) and <domain>.graphql per federation subgraph (what /graphql/<domain> "
        "answers to `_service { sdl }`, with its @key directives)."
    )

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("--out", default="schema", metavar="DIR",
                            help="directory to write into, created if missing (default: schema)")
        parser.add_argument("--tenant", metavar="SLUG",
                            help="write unified.graphql as this tenant sees it: with the "
                                 "entity types its source descriptions declare")

    def handle(self, *args: Any, **options: Any) -> None:
        out = Path(options["out"])
        out.mkdir(parents=True, exist_ok=True)
        tenant = options.get("tenant")
        if tenant and tenant not in tenant_schemas():
            raise CommandError(f"No tenant {tenant!r}; `manage.py onboard_tenant` creates one.")
        for name, sdl in schema_sdl_files(tenant or None).items():
            (out / name).write_text(sdl, encoding="utf-8")
            self.stdout.write(f"wrote {out / name}")
