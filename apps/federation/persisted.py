"""Persisted documents: a client may send a document's SHA-256 instead of its text.

Two stores, looked up in this order:
- registered documents (``PersistedDocument`` rows in the tenant's schema), put there by
  operators (`manage.py register_graphql_documents`, the admin). A tenant whose
  ``registered_documents_only`` setting is on runs nothing else: a trusted-documents
  allowlist, so a leaked key cannot run arbitrary queries;
- Apollo's automatic persisted queries (APQ): a client sends
  ``extensions.persistedQuery = {"version": 1, "sha256Hash": ...}``; on
  PERSISTED_QUERY_NOT_FOUND it sends the text with the hash once, and Redis keeps it for
  ``GRAPHQL_APQ_SECONDS``. It is a cache: Redis down means clients resend texts, no error.
  Tenants on registered documents only never store what clients send.
"""

from __future__ import annotations

import hashlib
import re
from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any

from cachetools import TTLCache
from django.conf import settings
from django.core.cache import cache
from django.db import transaction
from graphql import GraphQLError, GraphQLSchema, parse, validate

from apps.federation.models import PersistedDocument
from dictamesh import jsonbody
from dictamesh.cache.outage import REDIS_ERRORS, RedisOutage
from dictamesh.tenancy import current_schema

APQ_VERSION = 1
OUTAGE = RedisOutage("graphql_persisted_queries")
_HEX_SHA256 = re.compile(r"[0-9a-f]{64}")
_APQ_KEY = "graphql:apq:{}"
# Registered documents are read on each hashed request; a removal reaches other processes
# within this many seconds (the process that removes forgets at once).
REGISTERED_CACHE_SECONDS = 30
_registered: TTLCache[tuple[str, str], str] = TTLCache(maxsize=10_000,
                                                       ttl=REGISTERED_CACHE_SECONDS)


class PersistedQueryError(Exception):
    """A request whose persisted-query part cannot be served. ``request_error``: a GraphQL
    request error (answered in `errors`, as clients of the protocol expect), else the
    request itself is malformed (a 400 under every media type)."""

    def __init__(self, code: str, message: str, *, request_error: bool) -> None:
        super().__init__(message)
        self.code = code
        self.message = message
        self.request_error = request_error

    def as_graphql_error(self) -> GraphQLError:
        return GraphQLError(self.message, extensions={"code": self.code})


@dataclass(frozen=True)
class RegisteredDocument:
    sha256: str
    name: str
    document: str


class InvalidDocument(ValueError):
    """A document offered for registration does not parse or validate."""


def sha256_of(document: str) -> str:
    return hashlib.sha256(document.encode("utf-8")).hexdigest()


def document_for(params: dict[str, Any], registered_only: bool) -> Any:
    """The document text to run for one operation's parameters: `query`, or the document
    stored under ``extensions.persistedQuery.sha256Hash``. Returns `query` as given (maybe
    missing or not a string: the caller refuses that) when no hash is sent.
    Raises PersistedQueryError."""
    query = params.get("query")
    persisted = _extensions(params).get("persistedQuery")
    if persisted is None:
        if registered_only and isinstance(query, str) and _lookup(sha256_of(query)) is None:
            raise _not_registered()
        return query
    digest = _checked_hash(persisted)
    if isinstance(query, str) and query:
        if sha256_of(query) != digest:
            raise PersistedQueryError(
                "PERSISTED_QUERY_HASH_MISMATCH",
                "extensions.persistedQuery.sha256Hash is not the SHA-256 of `query`: hash the "
                "document's exact UTF-8 text (lowercase hex).", request_error=False)
        if registered_only:
            if _lookup(digest) is None:
                raise _not_registered()
        else:
            _remember(digest, query)
        return query
    text = _lookup(digest)
    if text is None and not registered_only:
        text = _remembered(digest)
    if text is None:
        if registered_only:
            raise _not_registered()
        raise PersistedQueryError(
            "PERSISTED_QUERY_NOT_FOUND",
            "PersistedQueryNotFound: no document is stored under this sha256Hash; send the "
            "request again with the document in `query` and the same hash.",
            request_error=True)
    return text


def _extensions(params: dict[str, Any]) -> dict[str, Any]:
    extensions = params.get("extensions")
    if isinstance(extensions, str):  # GET sends it as JSON text
        try:
            extensions = jsonbody.loads(extensions)
        except ValueError:
            extensions = "invalid"
    if extensions is None:
        return {}
    if not isinstance(extensions, dict):
        raise PersistedQueryError("BAD_REQUEST", "`extensions` must be a JSON object.",
                                  request_error=False)
    return extensions


def _checked_hash(persisted: Any) -> str:
    if not isinstance(persisted, dict) or persisted.get("version") != APQ_VERSION:
        raise PersistedQueryError(
            "PERSISTED_QUERY_NOT_SUPPORTED",
            'extensions.persistedQuery must be {"version": 1, "sha256Hash": "<hex>"} (the '
            "Apollo persisted-query protocol, version 1).", request_error=False)
    digest = persisted.get("sha256Hash")
    if not isinstance(digest, str) or not _HEX_SHA256.fullmatch(digest):
        raise PersistedQueryError(
            "BAD_REQUEST", "extensions.persistedQuery.sha256Hash must be 64 lowercase hex "
            "digits: the SHA-256 of the document.", request_error=False)
    return digest


def _not_registered() -> PersistedQueryError:
    return PersistedQueryError(
        "PERSISTED_QUERY_NOT_IN_LIST",
        "This tenant runs only registered GraphQL documents, and this one is not registered: "
        "ask its operators to register it (`manage.py register_graphql_documents`).",
        request_error=True)


def _lookup(digest: str) -> str | None:
    key = (current_schema(), digest)
    text = _registered.get(key)
    if text is None:
        text = PersistedDocument.objects.filter(sha256=digest).values_list(
            "document", flat=True).first()
        if text is not None:
            _registered[key] = text
    return text


def _remember(digest: str, text: str) -> None:
    if OUTAGE.skipping():
        return
    try:
        cache.set(_APQ_KEY.format(digest), text, timeout=settings.GRAPHQL_APQ_SECONDS)
    except REDIS_ERRORS as exc:
        OUTAGE.failed(exc)


def _remembered(digest: str) -> str | None:
    if OUTAGE.skipping():
        return None
    try:
        text = cache.get(_APQ_KEY.format(digest))
    except REDIS_ERRORS as exc:
        OUTAGE.failed(exc)
        return None
    return text if isinstance(text, str) else None


def register_documents(documents: Iterable[tuple[str, str]],
                       schema: GraphQLSchema) -> list[RegisteredDocument]:
    """Register ``(name, text)`` documents in the current tenant, each checked against
    ``schema`` first: all or none. Registering a document again renames it."""
    checked = []
    for name, text in documents:
        check_document(name, text, schema)
        checked.append(RegisteredDocument(sha256_of(text), name[:200], text))
    with transaction.atomic():
        for item in checked:
            PersistedDocument.objects.update_or_create(
                sha256=item.sha256, defaults={"document": item.document, "name": item.name})
    return checked


def check_document(name: str, text: str, schema: GraphQLSchema) -> None:
    """Raise InvalidDocument unless ``text`` parses and validates against ``schema``."""
    try:
        errors = validate(schema, parse(text))
    except GraphQLError as exc:
        errors = [exc]
    if errors:
        raise InvalidDocument(f"{name or 'The document'} is not a valid document of the "
                              f"API: {errors[0].message}")


def registered_documents() -> list[RegisteredDocument]:
    return [RegisteredDocument(row.sha256, row.name, row.document)
            for row in PersistedDocument.objects.all()]


def remove_documents(hashes: Iterable[str]) -> int:
    """Unregister documents by hash in the current tenant; returns how many were."""
    hashes = list(hashes)
    removed, _ = PersistedDocument.objects.filter(sha256__in=hashes).delete()
    forget_registered()
    return removed


def forget_registered() -> None:
    """Drop this process's copies of registered documents."""
    _registered.clear()
