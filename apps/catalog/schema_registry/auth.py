"""HTTP Basic authentication for the registry API, checked against Django users.

Confluent clients send ``basic.auth.user.info`` as HTTP Basic credentials on every request.
Any active user may read; only staff users may change the registry.
"""

from __future__ import annotations

import base64
import binascii

from django.contrib.auth import authenticate
from django.contrib.auth.base_user import AbstractBaseUser
from django.http import HttpRequest
from django_tenants.utils import get_public_schema_name, schema_context

from apps.catalog.schema_registry.errors import Forbidden, Unauthorized

REALM = "DictaMesh schema registry"
WWW_AUTHENTICATE = f'Basic realm="{REALM}", charset="UTF-8"'


def _credentials(request: HttpRequest) -> tuple[str, str] | None:
    scheme, _, encoded = request.META.get("HTTP_AUTHORIZATION", "").partition(" ")
    if scheme.lower() != "basic":
        return None
    try:
        decoded = base64.b64decode(encoded.strip(), validate=True).decode("utf-8")
    except (binascii.Error, UnicodeDecodeError):
        return None
    username, separator, password = decoded.partition(":")
    return (username, password) if separator else None


def require_user(request: HttpRequest, *, write: bool) -> AbstractBaseUser:
    """The authenticated user, or ``Unauthorized``; ``Forbidden`` if a non-staff user writes."""
    credentials = _credentials(request)
    if credentials is None:
        raise Unauthorized()
    # Users live in the public schema; a tenant host must not change where they are looked up.
    with schema_context(get_public_schema_name()):
        user = authenticate(request, username=credentials[0], password=credentials[1])
    if user is None:  # wrong password, unknown or inactive user
        raise Unauthorized()
    if write and not getattr(user, "is_staff", False):
        raise Forbidden()
    return user
