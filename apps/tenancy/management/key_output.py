"""How commands show a new API key: once, with the warning that it cannot be shown again."""

from __future__ import annotations

from django.core.management.base import OutputWrapper
from django.core.management.color import Style


def write_new_key(stdout: OutputWrapper, style: Style, plaintext: str, scope: str) -> None:
    stdout.write(f"API key ({scope}): {plaintext}")
    stdout.write(style.WARNING(
        "Store this key now (e.g. in your secret manager): it is shown only this once and "
        "cannot be recovered. Send it as `Authorization: Bearer <key>`."))
