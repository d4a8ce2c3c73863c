"""How commands make and show a new API key: an optional expiry, and the key shown once,
with the warning that it cannot be shown again."""

from __future__ import annotations

import argparse
from datetime import datetime, timedelta

from django.core.management.base import CommandParser, OutputWrapper
from django.core.management.color import Style
from django.utils import timezone

from apps.tenancy.contracts import NewMember

#: the longest expiry a command accepts (ten years): beyond it, leave the key unexpiring
MAX_EXPIRY_DAYS = 3650


def _days(text: str) -> int:
    try:
        days = int(text)
    except ValueError:
        days = 0
    if not 1 <= days <= MAX_EXPIRY_DAYS:
        raise argparse.ArgumentTypeError(
            f"{text!r}: give a whole number of days from 1 to {MAX_EXPIRY_DAYS}")
    return days


def add_expiry_argument(parser: CommandParser, flag: str, what: str) -> None:
    parser.add_argument(flag, type=_days, default=None, metavar="DAYS",
                        help=f"{what} expires after this many days (default: never; it "
                             "works until revoked)")


def expiry(days: int | None) -> datetime | None:
    return timezone.now() + timedelta(days=days) if days is not None else None


def write_new_key(stdout: OutputWrapper, style: Style, plaintext: str, scope: str,
                  expires_at: datetime | None = None) -> None:
    stdout.write(f"API key ({scope}): {plaintext}")
    if expires_at is not None:
        stdout.write(f"It expires at {expires_at.isoformat(timespec='seconds')}.")
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
