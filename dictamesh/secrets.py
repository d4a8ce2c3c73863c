"""Encrypting secrets at rest (source credentials) with Fernet, with key rotation.

Keys come from settings: the first key encrypts, every key decrypts, so a new key can be
put first and old tokens re-encrypted at leisure (`MultiFernet.rotate`).
"""

from __future__ import annotations

import base64
import hashlib
import json
from collections.abc import Sequence
from typing import Any

from cryptography.fernet import Fernet, InvalidToken, MultiFernet


class SecretError(ValueError):
    """A secret could not be decrypted: wrong key, or tampered data."""


def derive_key(secret: str) -> str:
    """A Fernet key derived from another secret (e.g. Django's SECRET_KEY)."""
    digest = hashlib.sha256(("dictamesh.credentials:" + secret).encode()).digest()
    return base64.urlsafe_b64encode(digest).decode()


def _fernet(keys: Sequence[str]) -> MultiFernet:
    if not keys:
        raise SecretError("No encryption key configured: set DICTAMESH_CREDENTIALS_KEYS.")
    try:
        return MultiFernet([Fernet(key) for key in keys])
    except ValueError:
        raise SecretError(
            "DICTAMESH_CREDENTIALS_KEYS holds a key that is not a Fernet key (32 url-safe "
            "base64-encoded bytes); make one with `python -c 'from cryptography.fernet "
            "import Fernet; print(Fernet.generate_key().decode())'`.") from None


def encrypt_json(value: Any, keys: Sequence[str]) -> str:
    return _fernet(keys).encrypt(json.dumps(value).encode()).decode()


def decrypt_json(token: str, keys: Sequence[str]) -> Any:
    try:
        return json.loads(_fernet(keys).decrypt(token.encode()))
    except InvalidToken:
        raise SecretError("Cannot decrypt stored credentials: the key that encrypted them "
                          "is not among DICTAMESH_CREDENTIALS_KEYS.") from None
