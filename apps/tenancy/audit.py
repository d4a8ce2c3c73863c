"""The audit log: who changed what, when, from where, with before/after digests and the
trace id; append-only (the database refuses UPDATE and DELETE but for retention).

``record_audit`` is called by each app's door where an audited change happens (API keys,
tenants, configuration, admin changes, registry writes, manual relationships, sagas,
source connections). Who and from where come from the request (``AuditActorMiddleware``,
or the API key the GraphQL view authenticated) or, outside a request, the process role.
Entries are stored in the public schema with the tenant's slug, so they outlive a
tenant's offboarding; the platform's own have an empty tenant.
"""

from __future__ import annotations

import hashlib
import json
import sys
from collections.abc import Callable, Iterable, Iterator, Mapping
from contextlib import contextmanager
from contextvars import ContextVar
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any, Protocol

from django.db import connection, transaction
from django.http import HttpRequest, HttpResponse
from django.utils import timezone
from opentelemetry import trace

from apps.tenancy.models import AuditEntry
from dictamesh.observability.logging import get_logger, redact_value
from dictamesh.tenancy import current_schema

log = get_logger(__name__)


@dataclass(frozen=True)
class AuditActor:
    actor: str  # a user name, "api-key:<prefix>", or "system"
    origin: str = ""  # the client's address, or the process role


_actor: ContextVar[AuditActor | None] = ContextVar("dictamesh_audit_actor", default=None)


def _process_origin() -> str:
    program = " ".join(sys.argv[:2])
    if "manage.py" in program or "django-admin" in program:
        return "cli"
    if "celery" in program:
        return "worker"
    return "system"


def current_actor() -> AuditActor:
    return _actor.get() or AuditActor("system", _process_origin())


@contextmanager
def acting_as(actor: str, origin: str | None = None) -> Iterator[None]:
    """Attribute the audit entries recorded inside to ``actor``."""
    token = _actor.set(AuditActor(actor, origin if origin is not None
                                  else current_actor().origin))
    try:
        yield
    finally:
        _actor.reset(token)


def set_request_actor(actor: str) -> None:
    """For the rest of this request (e.g. once the GraphQL view knows the API key)."""
    _actor.set(AuditActor(actor, current_actor().origin))


def digest(value: Any) -> str:
    """SHA-256 of ``value`` as canonical JSON ('' for None): shows that something changed
    and lets a copy be checked against it, without storing the values themselves."""
    if value is None:
        return ""
    canonical = json.dumps(value, sort_keys=True, default=str, separators=(",", ":"))
    return hashlib.sha256(canonical.encode()).hexdigest()


def _trace_id() -> str:
    context = trace.get_current_span().get_span_context()
    return format(context.trace_id, "032x") if context.is_valid else ""


def record_audit(action: str, *, object_type: str = "", object_id: Any = "",
                 before: Any = None, after: Any = None, detail: Mapping[str, Any] | None = None,
                 tenant: str | None = None, actor: str | None = None) -> AuditEntry:
    """Append one entry. ``tenant`` defaults to the current schema ('' for public);
    ``detail`` is a small summary (secrets in it are redacted)."""
    who = current_actor()
    if tenant is None:
        schema = current_schema()
        tenant = "" if schema == "public" else schema
    entry = AuditEntry.objects.create(
        tenant=tenant, actor=(actor or who.actor)[:200], action=action,
        object_type=object_type, object_id=str(object_id)[:255], origin=who.origin[:200],
        before_digest=digest(before), after_digest=digest(after),
        detail=redact_value(dict(detail or {})), trace_id=_trace_id())
    log.info("audit", action=action, actor=entry.actor, object_type=object_type,
             object_id=entry.object_id, audit_tenant=tenant or "platform")
    return entry


@dataclass(frozen=True)
class AuditFilter:
    tenant: str | None = None  # None: every tenant and the platform; "": the platform only
    action: str | None = None  # exact, or a prefix ending in "." ("api_key.")
    actor: str | None = None
    since: datetime | None = None
    until: datetime | None = None
    object_type: str | None = None
    object_ids: tuple[str, ...] | None = None  # with object_type: these objects only


def audit_entries(filters: AuditFilter = AuditFilter(), *, after_id: int | None = None,
                  limit: int = 50) -> list[AuditEntry]:
    """Newest first; ``after_id`` continues below the last entry of a previous page."""
    rows = AuditEntry.objects.all()
    if filters.tenant is not None:
        rows = rows.filter(tenant=filters.tenant)
    if filters.action:
        rows = (rows.filter(action__startswith=filters.action) if filters.action.endswith(".")
                else rows.filter(action=filters.action))
    if filters.actor:
        rows = rows.filter(actor=filters.actor)
    if filters.object_type is not None:
        rows = rows.filter(object_type=filters.object_type)
    if filters.object_ids is not None:
        rows = rows.filter(object_id__in=filters.object_ids)
    if filters.since:
        rows = rows.filter(at__gte=filters.since)
    if filters.until:
        rows = rows.filter(at__lt=filters.until)
    if after_id is not None:
        rows = rows.filter(id__lt=after_id)
    return list(rows.order_by("-id")[:limit])


def as_record(entry: AuditEntry) -> dict[str, Any]:
    return {"id": entry.id, "at": entry.at.isoformat(), "tenant": entry.tenant,
            "actor": entry.actor, "action": entry.action, "object_type": entry.object_type,
            "object_id": entry.object_id, "origin": entry.origin,
            "before_digest": entry.before_digest, "after_digest": entry.after_digest,
            "detail": entry.detail, "trace_id": entry.trace_id}


class Writable(Protocol):
    def write(self, text: str, /) -> Any: ...


def export_jsonl(entries: Iterable[AuditEntry], stream: Writable) -> int:
    """One JSON object per line; the number written."""
    written = 0
    for entry in entries:
        stream.write(json.dumps(as_record(entry), sort_keys=True) + "\n")
        written += 1
    return written


@transaction.atomic
def purge_audit_log(older_than: timedelta, *, dry_run: bool = False) -> int:
    """The retention job's path: the current tenant's entries (the platform's in the
    public schema) older than ``older_than``; with ``dry_run`` only counted."""
    schema = current_schema()
    tenant = "" if schema == "public" else schema
    old = AuditEntry.objects.filter(tenant=tenant, at__lt=timezone.now() - older_than)
    if dry_run:
        return old.count()
    with connection.cursor() as cursor:
        cursor.execute("SET LOCAL dictamesh.audit_retention = 'on'")
        try:
            deleted, _ = old.delete()
        finally:  # not for the rest of a caller's transaction
            cursor.execute("SET LOCAL dictamesh.audit_retention = 'off'")
    return deleted


class AuditActorMiddleware:
    """Who and from where, for the audit entries a request records: the signed-in user and
    the client's address (REMOTE_ADDR: set it right behind a proxy)."""

    def __init__(self, get_response: Callable[[HttpRequest], HttpResponse]) -> None:
        self.get_response = get_response

    def __call__(self, request: HttpRequest) -> HttpResponse:
        user = getattr(request, "user", None)
        name = user.get_username() if user is not None and user.is_authenticated else "anonymous"
        token = _actor.set(AuditActor(name, request.META.get("REMOTE_ADDR", "")))
        try:
            return self.get_response(request)
        finally:
            _actor.reset(token)
