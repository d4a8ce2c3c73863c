"""`manage.py register_graphql_documents`: the GraphQL documents a tenant's clients may
send by hash, and, with the tenant's `registered_documents_only` setting
(`manage.py set_graphql_limits SLUG --registered-documents-only on`), the only ones it runs.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from django.core.management.base import BaseCommand, CommandError, CommandParser
from graphql import GraphQLError, OperationDefinitionNode, parse

from apps.federation import services
from apps.tenancy.services import tenant_exists, tenant_schemas
from dictamesh.tenancy import tenant_context

MANIFEST_FORMAT = "apollo-persisted-query-manifest"


def _documents(path: Path) -> list[tuple[str, str]]:
    """``(name, text)`` from a .graphql file (one document) or an Apollo persisted-query
    manifest (.json, as `generate-persisted-query-manifest` writes it)."""
    try:
        text = path.read_text("utf-8")
    except (OSError, UnicodeDecodeError) as exc:
        raise CommandError(f"Cannot read {path}: {exc}.") from exc
    if path.suffix != ".json":
        return [(_name(text, path.stem), text)]
    try:
        manifest = json.loads(text)
    except ValueError as exc:
        raise CommandError(f"{path} is not JSON: {exc}.") from exc
    if not isinstance(manifest, dict) or manifest.get("format") != MANIFEST_FORMAT or \
            not isinstance(manifest.get("operations"), list):
        raise CommandError(f'{path} is not an Apollo persisted-query manifest ({{"format": '
                           f'"{MANIFEST_FORMAT}", "operations": [...]}}).')
    documents = []
    for index, operation in enumerate(manifest["operations"]):
        body = operation.get("body") if isinstance(operation, dict) else None
        if not isinstance(body, str):
            raise CommandError(f"{path}: operations[{index}] has no `body` text.")
        declared = operation.get("id")
        if declared is not None and declared != services.sha256_of(body):
            raise CommandError(f"{path}: operations[{index}].id is not the SHA-256 of its "
                               "body; regenerate the manifest.")
        documents.append((str(operation.get("name") or f"operation {index}"), body))
    return documents


def _name(text: str, fallback: str) -> str:
    try:
        definitions = parse(text).definitions
    except GraphQLError:
        return fallback  # registering reports the syntax error
    names = [d.name.value for d in definitions
             if isinstance(d, OperationDefinitionNode) and d.name is not None]
    return names[0] if len(names) == 1 else fallback


class Command(BaseCommand):
    help = ("Register a tenant's GraphQL documents (.graphql files, or an Apollo persisted-"
            "query manifest .json), list them (--list) or remove them (--remove HASH).")

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("--tenant", required=True, metavar="SLUG", help="the tenant")
        parser.add_argument("paths", nargs="*", type=Path, metavar="FILE",
                            help="documents to register (checked against the API first)")
        parser.add_argument("--list", action="store_true", help="list registered documents")
        parser.add_argument("--remove", action="append", default=[], metavar="SHA256",
                            help="unregister the document with this hash; repeatable")

    def handle(self, *args: Any, **options: Any) -> None:
        slug = options["tenant"]
        if not tenant_exists(slug):
            raise CommandError(f"No tenant {slug!r}; tenants: "
                               f"{', '.join(tenant_schemas()) or 'none yet'}.")
        if not (options["paths"] or options["list"] or options["remove"]):
            raise CommandError("Name documents to register, --list, or --remove SHA256.")
        documents = [doc for path in options["paths"] for doc in _documents(path)]
        with tenant_context(slug):
            if options["remove"]:
                removed = services.remove_documents(options["remove"])
                self.stdout.write(f"removed {removed} of {len(options['remove'])} documents")
            if documents:
                try:
                    registered = services.register_documents(documents)
                except services.InvalidDocument as exc:
                    raise CommandError(f"{exc}. Nothing was registered.") from exc
                for item in registered:
                    self.stdout.write(f"registered {item.sha256}  {item.name}")
            if options["list"]:
                for item in services.registered_documents():
                    self.stdout.write(f"{item.sha256}  {item.name}")
