"""The GraphQL response cache: whole answers to read queries, in Redis through Django's
cache (whose keys already start with the tenant's schema).

A key is the caller's key scope, the normalised document (printed from its AST, so
whitespace and comments do not matter), the operation name, the variables (sorted JSON) and
the generation numbers of the entity types the document reads. A change event bumps its
type's generation (`bump`), so every answer that read that type is unreachable at once:
invalidation is O(1) and never scans keys; the unreachable entries expire by their TTL.
Only answers without errors are stored: a degraded answer must not outlive the outage.

Redis down is no reason to fail a query: the cache is then bypassed (``response_key``
gives None, nothing is read or stored) for a few seconds at a time, and each bypass is
counted in ``dictamesh_redis_bypassed_total{component="graphql_response_cache"}``.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Iterable
from typing import Any

from django.conf import settings
from django.core.cache import cache
from graphql import (
    DocumentNode,
    GraphQLSchema,
    TypeInfo,
    TypeInfoVisitor,
    Visitor,
    get_named_type,
    print_ast,
    visit,
)

from dictamesh.cache.outage import REDIS_ERRORS, RedisOutage

OUTAGE = RedisOutage("graphql_response_cache")

#: the generation bumped by every change: catalog answers (graph, events) may change with any
ANY_CHANGE = "any"
_GENERATION = "graphql:generation:{}"


def ttl_seconds() -> int:
    return int(settings.GRAPHQL_RESPONSE_CACHE_SECONDS)


class _TypesRead(Visitor):
    def __init__(self, type_info: TypeInfo) -> None:
        super().__init__()
        self.type_info = type_info
        self.names: set[str] = set()

    def enter_field(self, *_: Any) -> None:
        field_type = self.type_info.get_type()
        if field_type is not None:
            self.names.add(get_named_type(field_type).name)


def types_read(schema: GraphQLSchema, document: DocumentNode) -> set[str]:
    """The names of the GraphQL types a document selects."""
    type_info = TypeInfo(schema)
    reader = _TypesRead(type_info)
    visit(document, TypeInfoVisitor(type_info, reader))
    return reader.names


def entity_types_read(schema: GraphQLSchema, document: DocumentNode,
                      entity_of_type: dict[str, str],
                      names: set[str] | None = None) -> list[str]:
    """The generations a document's answer depends on: the entity types of the GraphQL
    types it selects, plus ANY_CHANGE when it selects anything else (catalog views).
    ``names``: the document's :func:`types_read`, when the caller has them already."""
    if names is None:
        names = types_read(schema, document)
    read = {entity_of_type[name] for name in names if name in entity_of_type}
    others = {name for name in names
              if name not in entity_of_type and not name.startswith("__")
              and name not in _VALUE_TYPES}
    if others:
        read.add(ANY_CHANGE)
    return sorted(read)


# Scalars and value types that say nothing about which data was read.
_VALUE_TYPES = frozenset({"String", "Int", "Float", "Boolean", "ID", "Money", "PageInfo",
                          "DateTime"})


def response_key(scope: str, document: DocumentNode, operation_name: str | None,
                 variables: dict[str, Any] | None, entity_types: Iterable[str]) -> str | None:
    """The answer's cache key; None while Redis is unavailable (do not cache)."""
    types = list(entity_types)
    if OUTAGE.skipping():
        return None
    try:
        generations = cache.get_many([_GENERATION.format(t) for t in types])
    except REDIS_ERRORS as exc:
        OUTAGE.failed(exc)
        return None
    stamp = ",".join(f"{t}={generations.get(_GENERATION.format(t), 0)}" for t in types)
    text = json.dumps([scope, print_ast(document), operation_name or "", variables or {},
                       stamp], sort_keys=True, separators=(",", ":"), default=str)
    return f"graphql:response:{hashlib.sha256(text.encode()).hexdigest()}"


def get(key: str) -> dict[str, Any] | None:
    try:
        value = cache.get(key)
    except REDIS_ERRORS as exc:
        OUTAGE.failed(exc)
        return None
    return value if isinstance(value, dict) else None


def put(key: str, response: dict[str, Any]) -> None:
    try:
        cache.set(key, response, timeout=ttl_seconds())
    except REDIS_ERRORS as exc:
        OUTAGE.failed(exc)


def bump(entity_types: Iterable[str]) -> None:
    """Make every cached answer that read these entity types (or the catalog) unreachable,
    in the current tenant."""
    for entity_type in {*entity_types, ANY_CHANGE}:
        key = _GENERATION.format(entity_type)
        cache.add(key, 0, timeout=None)  # generations never expire: a reset would reuse keys
        cache.incr(key)
