"""The identity vault's key and cipher: Fernet, with the key outside the database.

The key is ``CARNET_VAULT_KEY`` when set (a url-safe base64 Fernet key), otherwise the file
``vault.key`` in the data directory, created on first use with mode 600. A database backup alone
therefore reveals no name: back the key up separately, and never with the database.
"""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Any

from cryptography.fernet import Fernet, InvalidToken
from django.conf import settings

from carnet.core.errors import ConfigurationError

KEY_ENVIRONMENT = "CARNET_VAULT_KEY"
KEY_FILE_NAME = "vault.key"
FIELDS = ("last_name", "first_name", "birth_date", "national_id", "contact")


def key_path() -> Path:
    return Path(settings.DATA_DIR) / KEY_FILE_NAME


def _key() -> bytes:
    from_environment = os.environ.get(KEY_ENVIRONMENT, "").strip()
    if from_environment:
        return from_environment.encode()
    path = key_path()
    if not path.exists():
        path.parent.mkdir(parents=True, exist_ok=True)
        # O_EXCL: two processes starting at once must not each write a different key.
        try:
            descriptor = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        except FileExistsError:
            pass
        else:
            with os.fdopen(descriptor, "wb") as handle:
                handle.write(Fernet.generate_key())
    return path.read_bytes().strip()


def cipher() -> Fernet:
    """Return the vault's cipher; a malformed key is a configuration error."""
    try:
        return Fernet(_key())
    except ValueError as error:
        raise ConfigurationError(
            f"The identity vault key ({KEY_ENVIRONMENT} or {key_path()}) is not a Fernet key."
        ) from error


def seal(values: dict[str, Any]) -> str:
    """Return the encrypted token of an identity."""
    return cipher().encrypt(json.dumps(values, sort_keys=True).encode()).decode()


def unseal(token: str) -> dict[str, Any]:
    """Return the identity in a token; a token from another key is a configuration error."""
    try:
        data: dict[str, Any] = json.loads(cipher().decrypt(token.encode()))
    except InvalidToken as error:
        raise ConfigurationError(
            "The identity vault cannot be read with this key: was the key replaced?"
        ) from error
    return data
