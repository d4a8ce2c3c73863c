"""The federation app's public API: what commands, the admin and operators' tooling use of
the GraphQL layer without reaching into its schema modules, limits or caches.

The GraphQL endpoint itself is served by ``views.py``; this module is for everything
around it.
"""

from __future__ import annotations

from collections.abc import Iterable

from apps.federation import cache, persisted
from apps.federation.limits import QueryLimits
from apps.federation.persisted import (
    InvalidDocument,
    RegisteredDocument,
    registered_documents,
    remove_documents,
    sha256_of,
)
from apps.federation.schema import DOMAINS, schema_sdl_files, subgraph_schema, unified_schema
from apps.federation.subscriptions.routing import websocket_application

__all__ = ["InvalidDocument", "QueryLimits", "RegisteredDocument", "build_schemas",
           "effective_limits", "forget_cached_responses", "register_documents",
           "registered_documents", "remove_documents", "schema_sdl_files", "sha256_of",
           "subgraph_names", "websocket_application"]


def subgraph_names() -> list[str]:
    """The domains served as federation subgraphs (``/graphql/<domain>``)."""
    return list(DOMAINS)


def build_schemas() -> None:
    """Build the unified schema and every subgraph now (a web process calls this at start,
    so its first request does not pay for it and the schemas are part of the heap it
    freezes, see dictamesh.heap)."""
    unified_schema()
    for domain in DOMAINS:
        subgraph_schema(domain)


def effective_limits(tenant: str) -> QueryLimits:
    """The limits a tenant's queries run under: platform defaults with its overrides."""
    return QueryLimits.for_tenant(tenant)


def forget_cached_responses(entity_types: Iterable[str]) -> None:
    """Make the current tenant's cached GraphQL answers that read these entity types (and
    catalog queries) unreachable, e.g. after a curator corrects data by hand."""
    cache.bump(entity_types)


def register_documents(documents: Iterable[tuple[str, str]]) -> list[RegisteredDocument]:
    """Register ``(name, text)`` GraphQL documents in the current tenant, each checked
    against the unified API first (InvalidDocument names the first that fails): all or
    none. Clients may then send them by SHA-256, and a tenant with
    ``registered_documents_only`` runs only these."""
    return persisted.register_documents(documents, unified_schema().graphql_schema)
