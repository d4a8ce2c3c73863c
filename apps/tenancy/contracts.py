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
