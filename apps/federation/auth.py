"""Who is calling the GraphQL API: API-key authentication and scope checks.

A request carries ``Authorization: Bearer <key>``. The key must be valid, unrevoked and
belong to the tenant whose host the request came to (django-tenants routes by host name);
a key is never valid on another tenant's host or on the public host.
"""

from __future__ import annotations

from dataclasses import dataclass

from django.db import connection
from django.http import HttpRequest
from django_tenants.utils import get_public_schema_name

from apps.tenancy.contracts import SCOPES
from apps.tenancy.services import api_key_expired_at, verify_api_key

REALM = "dictamesh"
# A header longer than this is no key of ours; refuse it before any work.
_MAX_HEADER_LENGTH = 512


class AuthError(Exception):
    """The request may not proceed. ``status`` is the HTTP status, ``code`` goes into the
    GraphQL error's ``extensions.code``, ``headers`` are to be set on the response."""

    def __init__(self, status: int, code: str, message: str,
                 headers: dict[str, str] | None = None) -> None:
        super().__init__(message)
        self.status = status
        self.code = code
        self.message = message
        self.headers = headers if headers is not None else _default_headers(status)


def _default_headers(status: int) -> dict[str, str]:
    return {"WWW-Authenticate": f'Bearer realm="{REALM}"'} if status == 401 else {}


@dataclass(frozen=True)
class Principal:
    """An authenticated caller: one API key of one tenant, with its granted scopes
    (implied scopes included: an admin key's scopes are {admin, write, read})."""

    key_id: int
    tenant: str
    scopes: frozenset[str]
    name: str


def _unauthenticated(message: str) -> AuthError:
    return AuthError(401, "UNAUTHENTICATED",
                     f"{message} Send `Authorization: Bearer <key>` "
                     f"(WWW-Authenticate: Bearer realm=\"{REALM}\"); "
                     "an administrator of your tenant can create a key with "
                     "`manage.py create_api_key <tenant> --scope read`.")


def _request_schema(request: HttpRequest) -> str:
    tenant = getattr(request, "tenant", None)  # set by django-tenants' middleware
    schema = getattr(tenant, "schema_name", None) or getattr(connection, "schema_name", None)
    return schema or get_public_schema_name()


def authenticate(request: HttpRequest) -> Principal:
    """The caller of ``request``, or AuthError (401 UNAUTHENTICATED, 403 FORBIDDEN)."""
    header = request.headers.get("Authorization", "")
    if not header:
        raise _unauthenticated("No API key given.")
    scheme, _, token = header.strip().partition(" ")
    token = token.strip()
    if scheme.lower() != "bearer" or not token or len(header) > _MAX_HEADER_LENGTH:
        raise _unauthenticated("The Authorization header is malformed.")
    return authenticate_key(token, _request_schema(request))


def authenticate_key(token: str, schema: str) -> Principal:
    """The caller holding API key ``token`` at a host of ``schema``, or AuthError: what
    `authenticate` checks once the key is out of its header (a socket's key comes in its
    `connection_init` message instead)."""
    verified = verify_api_key(token)
    if verified is None:
        expired = api_key_expired_at(token)
        if expired is not None:
            raise _unauthenticated(
                f"The API key expired at {expired.isoformat(timespec='seconds')}; "
                "use a newer key.")
        raise _unauthenticated("The API key is invalid or has been revoked.")
    if schema == get_public_schema_name():
        raise AuthError(403, "FORBIDDEN",
                        "The GraphQL API is served per tenant: send the request to your "
                        "tenant's host (e.g. https://<tenant>.example.com/graphql).")
    if schema != verified.tenant:
        raise AuthError(403, "FORBIDDEN",
                        "This API key belongs to another tenant: send the request to the "
                        "host of the tenant that issued the key.")
    return Principal(key_id=verified.key_id, tenant=verified.tenant,
                     scopes=verified.scopes, name=verified.name)


def require_scope(principal: Principal, scope: str) -> None:
    """Refuse (403 INSUFFICIENT_SCOPE) unless the principal holds ``scope``."""
    if scope not in SCOPES:
        raise ValueError(f"Unknown scope {scope!r}: use one of {', '.join(SCOPES)}.")
    if scope in principal.scopes:
        return
    held = ", ".join(s for s in SCOPES if s in principal.scopes) or "none"
    raise AuthError(
        403, "INSUFFICIENT_SCOPE",
        f"This operation needs an API key with the {scope!r} scope; this key has: {held}. "
        f"Ask an administrator of your tenant for a key created with `--scope {scope}`.",
        headers={"WWW-Authenticate":
                 f'Bearer realm="{REALM}", error="insufficient_scope", scope="{scope}"'},
    )


__all__ = ["AuthError", "Principal", "authenticate", "authenticate_key", "require_scope"]
