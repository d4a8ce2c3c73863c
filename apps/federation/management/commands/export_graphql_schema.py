"""Write the GraphQL schemas to SDL files: the unified API and each domain's subgraph.

Operators need them where introspection is off: to compose the supergraph (Apollo rover,
GraphQL Hive), to check a change for breakage, to generate clients.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from django.core.management.base import BaseCommand, CommandParser

from apps.federation.services import schema_sdl_files


class Command(BaseCommand):
    help = (
        "Write each GraphQL schema's SDL into a directory: unified.graphql (what /graphql "
        "serves) and <domain>.graphql per federation subgraph (what /graphql/<domain> "
        "answers to `_service { sdl }`, with its @key directives)."
    )

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("--out", default="schema", metavar="DIR",
                            help="directory to write into, created if missing (default: schema)")

    def handle(self, *args: Any, **options: Any) -> None:
        out = Path(options["out"])
        out.mkdir(parents=True, exist_ok=True)
        for name, sdl in schema_sdl_files().items():
            (out / name).write_text(sdl, encoding="utf-8")
            self.stdout.write(f"wrote {out / name}")
