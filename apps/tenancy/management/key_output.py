"""How commands show a new API key: once, with the warning that it cannot be shown again."""

from __future__ import annotations

from django.core.management.base import OutputWrapper
from django.core.management.color import Style

from apps.tenancy.contracts import NewMember


def write_new_key(stdout: OutputWrapper, style: Style, plaintext: str, scope: str) -> None:
    stdout.write(f"API key ({scope}): {plaintext}")
    stdout.write(style.WARNING(
        "Store this key now (e.g. in your secret manager): it is shown only this once and "
        "cannot be recovered. Send it as `Authorization: Bearer <key>`."))


def write_new_member(stdout: OutputWrapper, style: Style, tenant: str,
                     member: NewMember) -> None:
    """A new or changed membership; a new user's password, once."""
    stdout.write(style.SUCCESS(f"{member.username!r} is {member.role} of {tenant!r}."))
    if member.password:
        stdout.write(f"Created user {member.username!r} with password: {member.password}")
        stdout.write(style.WARNING(
            "Hand this password over now: it is shown only this once. The user signs in at "
            "the tenant's host (/admin/) and should change it there."))
