"""`auditLog(first, after, filter)`: the tenant's audit entries, for keys with the admin
scope (apps/tenancy/audit.py records them). Newest first; entries change with no event
the response cache hears, so answers reading them are never cached (``LIVE_TYPES``)."""

from __future__ import annotations

from base64 import urlsafe_b64decode, urlsafe_b64encode
from typing import Any

import graphene
from graphene.types.generic import GenericScalar
from graphql import GraphQLError, GraphQLResolveInfo

from apps.federation.loaders import INVALID_ARGUMENT, context_of
from apps.tenancy.services import AuditFilter, audit_entries
from dictamesh.tenancy import current_schema

MAX_PAGE_SIZE = 100
INSUFFICIENT_SCOPE = "INSUFFICIENT_SCOPE"
_CURSOR_PREFIX = "audit:"
LIVE_TYPES = frozenset({"AuditEntry", "AuditPage"})


class AuditEntry(graphene.ObjectType):
    """One audited change in this tenant."""

    id = graphene.ID(required=True)
    at = graphene.DateTime(required=True)
    actor = graphene.String(required=True, description='A user name, "api-key:<prefix>" '
                                                       'or "system".')
    action = graphene.String(required=True, description='e.g. "api_key.created".')
    object_type = graphene.String(required=True)
    object_id = graphene.String(required=True)
    origin = graphene.String(required=True, description="The client's address, or the "
                                                        "process role (cli, worker).")
    before_digest = graphene.String(required=True, description="SHA-256 of the object "
                                                               "before ('' if none).")
    after_digest = graphene.String(required=True)
    detail = GenericScalar(required=True)
    trace_id = graphene.String(required=True)


class AuditPage(graphene.ObjectType):
    nodes = graphene.List(graphene.NonNull(AuditEntry), required=True)
    end_cursor = graphene.String(description="Pass as `after` for the next page.")
    has_next_page = graphene.Boolean(required=True)


class AuditLogFilter(graphene.InputObjectType):
    action = graphene.String(description='An action, or a prefix ending in "." '
                                         '("api_key.").')
    actor = graphene.String()
    since = graphene.DateTime()
    until = graphene.DateTime()


def _error(message: str, code: str) -> GraphQLError:
    return GraphQLError(message, extensions={"code": code})


def _after_id(cursor: str | None) -> int | None:
    if cursor is None:
        return None
    try:
        text = urlsafe_b64decode(cursor.encode()).decode()
        if text.startswith(_CURSOR_PREFIX):
            return int(text[len(_CURSOR_PREFIX):])
    except (ValueError, UnicodeDecodeError):
        pass
    raise _error("`after` is not a cursor of auditLog: pass a previous page's endCursor.",
                 INVALID_ARGUMENT)


def resolve_audit_log(root: Any, info: GraphQLResolveInfo, first: int = 50,
                      after: str | None = None,
                      filter: dict[str, Any] | None = None) -> dict[str, Any]:  # noqa: A002
    if "admin" not in context_of(info).scope.split(","):
        raise _error("The audit log is for keys with the admin scope: ask a tenant admin "
                     "for one.", INSUFFICIENT_SCOPE)
    if not 1 <= first <= MAX_PAGE_SIZE:
        raise _error(f"`first` must be between 1 and {MAX_PAGE_SIZE}.", INVALID_ARGUMENT)
    given = filter or {}
    rows = audit_entries(AuditFilter(tenant=current_schema(), action=given.get("action"),
                                     actor=given.get("actor"), since=given.get("since"),
                                     until=given.get("until")),
                         after_id=_after_id(after), limit=first + 1)
    page = rows[:first]
    end = (urlsafe_b64encode(f"{_CURSOR_PREFIX}{page[-1].id}".encode()).decode()
           if page else after)
    return {"nodes": page, "end_cursor": end, "has_next_page": len(rows) > first}


class AuditQueries:
    audit_log = graphene.Field(
        AuditPage, resolver=resolve_audit_log,
        first=graphene.Int(default_value=50, description=f"1 to {MAX_PAGE_SIZE}."),
        after=graphene.String(description="The previous page's endCursor."),
        filter=AuditLogFilter(),
        description="This tenant's audit log, newest first. Null, with an error whose "
                    "`extensions.code` is INSUFFICIENT_SCOPE, for keys without the admin "
                    "scope.")
