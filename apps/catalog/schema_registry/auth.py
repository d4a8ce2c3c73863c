"""Who is calling the registry API, and what it may do.

Credentials, cheapest first:

- a tenant's API key (``dm_<tenant>_<prefix>_<secret>``) as ``Authorization: Bearer <key>``
  or as the password of HTTP Basic (Confluent clients' ``basic.auth.user.info``, any user
  name): one HMAC and one indexed query;
- HTTP Basic credentials of a user. A password hash costs ~0.5 s by design, so a verified
  password is remembered for REGISTRY_PASSWORD_CACHE_SECONDS under a keyed digest of the
  user, its stored hash and the password: a changed password or a deactivated user stops
  matching at once. Failures go through django-axes, which locks the account and the
  client address out after LOGIN_FAILURE_LIMIT failures (HTTP 429); unknown API keys count
  as failures of the address. A password verified before a lockout keeps working until
  its remembered entry expires: whoever sends it already knows it.

What a caller may do (``RegistryPrincipal``): subjects ``<tenant>.*`` belong to that
tenant (``ownership.py``); its members and its keys read them, its curators and admins and
its keys with the ``write`` scope change them. Subjects without a tenant prefix are the
platform's: everyone signed in reads them, platform admins change them, as they do the
global configuration. Platform admins may do everything.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import hmac
import threading
from dataclasses import dataclass, field
from typing import Any

from cachetools import TTLCache
from django.conf import settings
from django.contrib.auth import authenticate, get_user_model
from django.http import HttpRequest
from django_tenants.utils import get_public_schema_name, schema_context

from apps.catalog.schema_registry.errors import Forbidden, TooManyFailures, Unauthorized
from apps.catalog.schema_registry.ownership import subject_tenant
from apps.tenancy import services as tenancy

REALM = "DictaMesh schema registry"
WWW_AUTHENTICATE = f'Basic realm="{REALM}", charset="UTF-8"'
_MAX_HEADER_LENGTH = 1024

_verified_lock = threading.Lock()
_verified: TTLCache[bytes, bool] = TTLCache(
    maxsize=10_000, ttl=settings.REGISTRY_PASSWORD_CACHE_SECONDS)


@dataclass
class RegistryPrincipal:
    """A signed-in user (with its memberships) or one tenant's API key."""

    user: Any = None
    key_tenant: str | None = None
    key_scopes: frozenset[str] = frozenset()
    _platform: bool | None = field(default=None, repr=False)

    @property
    def is_platform_admin(self) -> bool:
        if self._platform is None:
            self._platform = self.user is not None and tenancy.is_platform_admin(self.user)
        return self._platform

    def may_read(self, subject: str) -> bool:
        owner = subject_tenant(subject)
        if owner is None or self.is_platform_admin:
            return True
        if self.key_tenant is not None:
            return owner == self.key_tenant
        return owner in tenancy.roles_of(self.user)

    def may_write(self, subject: str | None) -> bool:
        """``subject`` None: the global configuration."""
        if self.is_platform_admin:
            return True
        owner = subject_tenant(subject) if subject is not None else None
        if owner is None:
            return False
        if self.key_tenant is not None:
            return owner == self.key_tenant and "write" in self.key_scopes
        return tenancy.at_least(tenancy.roles_of(self.user).get(owner), tenancy.Role.CURATOR)

    def require_read(self, subject: str) -> None:
        if not self.may_read(subject):
            raise Forbidden(f"Forbidden: subject '{subject}' belongs to a tenant these "
                            "credentials are not of. Use a key or a membership of that tenant.")

    def require_write(self, subject: str | None) -> None:
        if self.may_write(subject):
            return
        if subject is None:
            raise Forbidden("Forbidden: only platform admins change the global configuration.")
        owner = subject_tenant(subject)
        raise Forbidden(
            f"Forbidden: changing '{subject}' needs " + (
                f"a curator or admin of tenant '{owner}', or its API key with the 'write' "
                "scope." if owner else
                "a platform admin (subjects without a '<tenant>.' prefix are the "
                "platform's)."))


def _header_credentials(request: HttpRequest) -> tuple[str, str, str] | None:
    """``(scheme, user, secret)``: ("bearer", "", token) or ("basic", user, password)."""
    header = request.META.get("HTTP_AUTHORIZATION", "")
    if not header or len(header) > _MAX_HEADER_LENGTH:
        return None
    scheme, _, value = header.partition(" ")
    scheme, value = scheme.lower(), value.strip()
    if scheme == "bearer" and value:
        return "bearer", "", value
    if scheme != "basic":
        return None
    try:
        decoded = base64.b64decode(value, validate=True).decode("utf-8")
    except (binascii.Error, UnicodeDecodeError):
        return None
    username, separator, password = decoded.partition(":")
    return ("basic", username, password) if separator else None


def _digest(user: Any, password: str) -> bytes:
    # Keyed, and bound to the stored hash: the cache holds nothing that tests a password
    # offline, and a password change makes old entries unreachable.
    material = f"{user.pk}\0{user.password}\0{password}".encode()
    return hmac.new(settings.SECRET_KEY.encode(), material, hashlib.sha256).digest()


def _user(request: HttpRequest, username: str, password: str) -> Any:
    users = get_user_model()
    # Users live in the public schema; a tenant host must not change where they are looked up.
    with schema_context(get_public_schema_name()):
        user = users._default_manager.filter(**{users.USERNAME_FIELD: username}).first()
        if user is not None and user.is_active:
            with _verified_lock:
                if _verified.get(_digest(user, password)):
                    return user
        user = authenticate(request, username=username, password=password)
    if user is None:  # wrong password, unknown or inactive user, or locked out
        if tenancy.is_locked_out(request):
            raise TooManyFailures(tenancy.LOCKED_OUT_MESSAGE)
        raise Unauthorized()
    with _verified_lock:
        _verified[_digest(user, password)] = True
    return user


def authenticate_registry(request: HttpRequest) -> RegistryPrincipal:
    """The caller, or ``Unauthorized`` (401) / ``TooManyFailures`` (429)."""
    credentials = _header_credentials(request)
    if credentials is None:
        raise Unauthorized()
    scheme, username, secret = credentials
    key = tenancy.verify_api_key(secret)
    if key is not None:
        return RegistryPrincipal(key_tenant=key.tenant, key_scopes=key.scopes)
    if scheme == "bearer" or secret.startswith("dm_"):  # a key, but not a valid one
        if tenancy.record_failed_sign_in(request, username or None):
            raise TooManyFailures(tenancy.LOCKED_OUT_MESSAGE)
        raise Unauthorized()
    return RegistryPrincipal(user=_user(request, username, secret))


def forget_verified_passwords() -> None:
    """Empty the cache of verified passwords (tests; an operator's emergency)."""
    with _verified_lock:
        _verified.clear()
