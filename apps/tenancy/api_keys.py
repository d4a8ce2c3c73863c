"""API keys to the GraphQL API: creating, verifying and revoking them.

A key reads ``dm_<tenant>_<prefix>_<secret>``. The tenant slug is there for people and
secret scanners (which key leaked, whose is it); the 12-character ``prefix`` is public and
finds the row; the 43-character base62 ``secret`` (256 bits) is the credential.

Only ``HMAC-SHA256(pepper, secret)`` is stored. A slow password hash (PBKDF2, Argon2) exists
to make guessing a *low-entropy* password expensive; a 256-bit random secret cannot be
guessed at any speed, so a slow hash would only cost ~100 ms on every API request. The
keyed hash adds that a stolen database alone is not enough to test candidate keys: the
pepper (settings.API_KEY_PEPPER, by default derived from SECRET_KEY) lives outside it.
Changing the pepper (or SECRET_KEY while no pepper is set) invalidates every key.

The tenant segment must name the key's own tenant: a key whose segment was edited (say,
to look like another tenant's) is refused like a wrong secret. A key may carry an expiry
(``expires_at``); after it the key is refused, and ``api_key_expired_at`` tells the
caller why.
"""

from __future__ import annotations

import hashlib
import hmac
import secrets
import string
from collections.abc import Iterable
from datetime import datetime, timedelta

from django.conf import settings
from django.db import transaction
from django.db.models import Q
from django.utils import timezone

from apps.tenancy.audit import record_audit, set_request_actor
from apps.tenancy.contracts import SCOPES, ApiKeyError, VerifiedKey
from apps.tenancy.models import ApiKey, Tenant

KEY_PREFIX = "dm"
PREFIX_LENGTH = 12
SECRET_LENGTH = 43  # 43 base62 characters carry 256 bits
_ALPHABET = string.ascii_letters + string.digits  # no '_': it separates the parts

# A scope grants the scopes below it: admin ⊃ write ⊃ read.
_IMPLIED: dict[str, frozenset[str]] = {
    "read": frozenset({"read"}),
    "write": frozenset({"read", "write"}),
    "admin": frozenset({"read", "write", "admin"}),
}
# last_used_at is written at most this often per key: a hot key must not turn every API
# request into a row update.
LAST_USED_RESOLUTION = timedelta(minutes=1)


def expand_scopes(scopes: Iterable[str]) -> frozenset[str]:
    """Every scope that ``scopes`` grant, implied ones included."""
    granted: set[str] = set()
    for scope in scopes:
        if scope not in _IMPLIED:
            raise ApiKeyError(f"Unknown scope {scope!r}: use one of {', '.join(SCOPES)}.")
        granted |= _IMPLIED[scope]
    return frozenset(granted)


def _pepper() -> bytes:
    pepper = settings.API_KEY_PEPPER or f"dictamesh.api_keys:{settings.SECRET_KEY}"
    return pepper.encode()


def hash_secret(secret: str) -> str:
    return hmac.new(_pepper(), secret.encode(), hashlib.sha256).hexdigest()


def _random(length: int) -> str:
    return "".join(secrets.choice(_ALPHABET) for _ in range(length))


def split_key(plaintext: str) -> tuple[str, str] | None:
    """``(prefix, secret)`` of a well-formed key, else None."""
    if not plaintext.startswith(KEY_PREFIX + "_"):
        return None
    parts = plaintext.rsplit("_", 2)  # the tenant slug itself may contain '_'
    if len(parts) != 3:
        return None
    _, prefix, secret = parts
    if len(prefix) != PREFIX_LENGTH or len(secret) != SECRET_LENGTH:
        return None
    if not (prefix.isascii() and prefix.isalnum() and secret.isascii() and secret.isalnum()):
        return None
    return prefix, secret


def create_api_key(tenant_slug: str, name: str, scopes: Iterable[str],
                   expires_at: datetime | None = None) -> tuple[ApiKey, str]:
    """A new key for the tenant and its plaintext, which is shown this once and never again.
    ``expires_at``: when the key stops working (None: when it is revoked)."""
    requested = list(scopes)
    if expires_at is not None and expires_at <= timezone.now():
        raise ApiKeyError(f"The expiry {expires_at.isoformat()} is already past: give a "
                          "future time (or none, for a key valid until revoked).")
    if not requested:
        raise ApiKeyError(f"Give the key a scope: one of {', '.join(SCOPES)}.")
    granted = expand_scopes(requested)
    name = name.strip()
    if not name or len(name) > 100:
        raise ApiKeyError("Give the key a name of 1-100 characters that says who uses it.")
    tenant = Tenant.objects.filter(schema_name=tenant_slug).first()
    if tenant is None:
        raise ApiKeyError(f"No tenant {tenant_slug!r}: onboard it first "
                          f"(`manage.py onboard_tenant {tenant_slug}`).")
    prefix, secret = _random(PREFIX_LENGTH), _random(SECRET_LENGTH)
    key = ApiKey.objects.create(tenant=tenant, name=name, prefix=prefix,
                                secret_hash=hash_secret(secret), scopes=sorted(granted),
                                expires_at=expires_at)
    after: dict[str, object] = {"name": name, "scopes": sorted(granted)}
    if expires_at is not None:
        after["expires_at"] = expires_at.isoformat()
    record_audit("api_key.created", object_type="api_key", object_id=prefix,
                 tenant=tenant_slug, after=after, detail=after)
    return key, f"{KEY_PREFIX}_{tenant_slug}_{prefix}_{secret}"


def _genuine(plaintext: str) -> ApiKey | None:
    """The key row ``plaintext`` is the key of (secret and tenant segment right), revoked
    and expired ones included; None for anything else."""
    parts = split_key(plaintext)
    if parts is None:
        return None
    prefix, secret = parts
    key = ApiKey.objects.select_related("tenant").filter(prefix=prefix).first()
    # compare_digest: the time taken must not reveal how much of the hash matched.
    if key is None or not hmac.compare_digest(key.secret_hash, hash_secret(secret)):
        return None
    if not plaintext.startswith(f"{KEY_PREFIX}_{key.tenant.schema_name}_{prefix}_"):
        return None  # the tenant segment was changed: not the key that was issued
    return key


def verify_api_key(plaintext: str) -> VerifiedKey | None:
    """The grant of a well-formed, known, unrevoked, unexpired key; None for anything else."""
    key = _genuine(plaintext)
    if key is None or key.revoked_at is not None:
        return None
    if key.expires_at is not None and key.expires_at <= timezone.now():
        return None
    _touch(key)
    set_request_actor(f"api-key:{key.prefix}")  # who, for audit entries this request records
    return VerifiedKey(key_id=key.pk, tenant=key.tenant.schema_name, name=key.name,
                       scopes=expand_scopes(key.scopes))


def api_key_expired_at(plaintext: str) -> datetime | None:
    """When ``plaintext``, a genuine unrevoked key, expired; None if it is no such key or
    has not expired (to tell a caller why verify_api_key refused it)."""
    key = _genuine(plaintext)
    if key is None or key.revoked_at is not None or key.expires_at is None:
        return None
    return key.expires_at if key.expires_at <= timezone.now() else None


def _touch(key: ApiKey) -> None:
    """Record use, at most once per LAST_USED_RESOLUTION; the condition in the UPDATE keeps
    concurrent requests from writing the same minute twice."""
    now = timezone.now()
    if key.last_used_at is not None and now - key.last_used_at < LAST_USED_RESOLUTION:
        return
    stale = Q(last_used_at__isnull=True) | Q(last_used_at__lt=now - LAST_USED_RESOLUTION)
    ApiKey.objects.filter(stale, pk=key.pk).update(last_used_at=now)


def revoke_api_key(tenant_slug: str, prefix: str) -> ApiKey:
    """Revoke the tenant's key with this prefix; revoking twice keeps the first time."""
    with transaction.atomic():
        key = (ApiKey.objects.select_for_update()
               .filter(tenant__schema_name=tenant_slug, prefix=prefix).first())
        if key is None:
            raise ApiKeyError(f"Tenant {tenant_slug!r} has no API key with prefix {prefix!r} "
                              "(the prefix is the part after the tenant name).")
        if key.revoked_at is None:
            key.revoked_at = timezone.now()
            key.save(update_fields=["revoked_at"])
            record_audit("api_key.revoked", object_type="api_key", object_id=prefix,
                         tenant=tenant_slug, before={"revoked_at": None},
                         after={"revoked_at": key.revoked_at}, detail={"name": key.name})
    return key


def tenant_has_keys(tenant_slug: str) -> bool:
    """Whether the tenant has ever had a key (revoked ones count)."""
    return ApiKey.objects.filter(tenant__schema_name=tenant_slug).exists()
