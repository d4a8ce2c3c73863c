"""How the admin names an entity and its version for a person: one place, used by the
entity list, the entity page and the graph explorer."""

from __future__ import annotations

from collections.abc import Mapping
from datetime import UTC, datetime
from typing import Any

# Attributes that name an entity, best first; the first one an entity has is its name.
_NAME_ATTRIBUTES = ("name", "display_name", "title", "full_name", "invoice_number", "label",
                    "email", "sku")
# Versions at or above this are milliseconds since the epoch (2001-09-09 onwards): the
# adapters' versions are their records' update times. Smaller ones are plain counters.
_EPOCH_MS_FLOOR = 1_000_000_000_000
_NAME_CHARS = 80


def display_name(attributes: Mapping[str, Any] | None) -> str:
    """The entity's name for a person: its name (with its email when it has one), or the
    first naming attribute it has; '' when none."""
    if not attributes:
        return ""
    found = ""
    for attribute in _NAME_ATTRIBUTES:
        value = attributes.get(attribute)
        if isinstance(value, str | int) and not isinstance(value, bool) and str(value).strip():
            found = str(value).strip()
            break
    email = attributes.get("email")
    if found and isinstance(email, str) and email and email != found:
        found = f"{found} <{email}>"
    return found if len(found) <= _NAME_CHARS else found[:_NAME_CHARS - 1] + "…"


def version_time(version: int | None) -> datetime | None:
    """The time a version stands for, when it is an epoch-millisecond timestamp."""
    if version is None or version < _EPOCH_MS_FLOOR:
        return None
    try:
        return datetime.fromtimestamp(version / 1000, tz=UTC)
    except (OverflowError, OSError, ValueError):
        return None


def format_version(version: int | None) -> str:
    """A version as a person reads it: its time (UTC, to the millisecond), else the number."""
    when = version_time(version)
    if when is None:
        return "" if version is None else str(version)
    return when.strftime("%Y-%m-%d %H:%M:%S.") + f"{when.microsecond // 1000:03d} UTC"
