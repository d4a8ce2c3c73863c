"""What other apps receive from the tenancy app: values and errors, no behaviour."""

from __future__ import annotations

from dataclasses import dataclass

# API key scopes, weakest first; a scope grants the ones before it (admin ⊃ write ⊃ read).
SCOPES = ("read", "write", "admin")


class ApiKeyError(ValueError):
    """An API key operation was refused; the message says why and what to do."""


@dataclass(frozen=True)
class VerifiedKey:
    """What a valid, unrevoked key grants."""

    key_id: int
    tenant: str
    name: str
    scopes: frozenset[str]


class MembershipError(ValueError):
    """A tenant membership operation was refused; the message says why and what to do."""


@dataclass(frozen=True)
class NewMember:
    """A membership just given: the user's name, its role, and whether the user was made."""

    username: str
    role: str
    user_created: bool
    # Set only when the user was created now: shown once, stored only as a hash.
    password: str | None = None
