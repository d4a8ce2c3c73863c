"""Reading deployment settings from environment variables.

Every setting the platform reads from the environment goes through these helpers so that a
bad value fails at start-up with a message naming the variable, never later at first use.
"""

from __future__ import annotations

import os
from collections.abc import Callable
from typing import TypeVar

from django.core.exceptions import ImproperlyConfigured

from dictamesh.setting_values import redact_url, without_secret

T = TypeVar("T")

_TRUE = {"1", "true", "yes", "on"}
_FALSE = {"0", "false", "no", "off", ""}


def env_str(name: str, default: str | None = None) -> str:
    """The variable's value, or ``default``; with no default, the variable is required."""
    value = os.environ.get(name)
    if value is not None:
        return value
    if default is None:
        raise ImproperlyConfigured(f"Set the environment variable {name}: it has no default.")
    return default


def env_bool(name: str, default: bool) -> bool:
    raw = os.environ.get(name)
    if raw is None:
        return default
    lowered = raw.strip().lower()
    if lowered in _TRUE:
        return True
    if lowered in _FALSE:
        return False
    raise ImproperlyConfigured(
        f"{name}={raw!r} is not a boolean: use one of true/false, 1/0, yes/no, on/off."
    )


def env_int(name: str, default: int, *, minimum: int | None = None) -> int:
    raw = os.environ.get(name)
    if raw is None:
        return default
    try:
        value = int(raw)
    except ValueError:
        raise ImproperlyConfigured(f"{name}={raw!r} is not an integer.") from None
    return int(setting_number(name, value, minimum=minimum, integer=True))


def env_float(name: str, default: float, *, minimum: float | None = None) -> float:
    raw = os.environ.get(name)
    if raw is None:
        return default
    try:
        value = float(raw)
    except ValueError:
        raise ImproperlyConfigured(f"{name}={raw!r} is not a number.") from None
    return setting_number(name, value, minimum=minimum)


def env_list(name: str, default: list[str]) -> list[str]:
    """A comma-separated list; empty items are dropped."""
    raw = os.environ.get(name)
    if raw is None:
        return list(default)
    return [item.strip() for item in raw.split(",") if item.strip()]


def env_parsed(name: str, default: str, parse: Callable[[str], T], expected: str,
               *, url_with_password: bool = False) -> T:
    """Parse the variable with ``parse``; any error names the variable and the expected form.
    ``url_with_password``: the value is a URL that may carry a password, which the error
    must not repeat (it ends up in logs and on consoles)."""
    return _parsed(name, os.environ.get(name, default), parse, expected, url_with_password)


def env_list_item_parsed(name: str, position: int, raw: str, parse: Callable[[str], T],
                         expected: str, *, url_with_password: bool = False) -> T:
    """Parse one item of a comma-separated variable; an error names the variable and the
    item's position (1-based), e.g. ``DATABASE_REPLICA_URLS[2]``."""
    return _parsed(f"{name}[{position}]", raw, parse, expected, url_with_password)


def _parsed(label: str, raw: str, parse: Callable[[str], T], expected: str,
            url_with_password: bool) -> T:
    try:
        return parse(raw)
    except (ValueError, KeyError, TypeError) as exc:
        if not url_with_password:
            raise ImproperlyConfigured(f"{label}={raw!r} is not {expected}: {exc}") from None
        message = (f"{label}={redact_url(raw)!r} is not {expected}: "
                   f"{without_secret(str(exc), raw)}")
        raise ImproperlyConfigured(message) from None


def require_number(name: str, value: object, *, minimum: float | None = None,
                   integer: bool = False) -> float:
    """``value`` as a float if it is a number (an int, if ``integer``) of at least
    ``minimum``; else ValueError naming ``name``. Booleans and numeric strings are refused."""
    kind = "an integer" if integer else "a number"
    if (isinstance(value, bool) or not isinstance(value, int | float)
            or (integer and not isinstance(value, int))
            or (minimum is not None and value < minimum)):
        bound = f" >= {minimum}" if minimum is not None else ""
        raise ValueError(f"{name}={value!r}: expected {kind}{bound}")
    return float(value)


def setting_number(name: str, value: object, *, minimum: float | None = None,
                   integer: bool = False) -> float:
    """Like ``require_number``, for a setting: a bad value raises ImproperlyConfigured.

    Settings are checked when they are read from the environment and again where code
    uses them, since tests and embedding projects may override them at run time.
    """
    try:
        return require_number(name, value, minimum=minimum, integer=integer)
    except ValueError as exc:
        raise ImproperlyConfigured(f"Setting {exc}.") from None
