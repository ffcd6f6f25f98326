"""SHA-256 helpers: every hash in Carnet is lowercase hexadecimal SHA-256."""

import hashlib
from pathlib import Path
from typing import Any

from carnet.core.canonical_json import canonical_bytes


def sha256_hex(data: bytes) -> str:
    """Return the SHA-256 of ``data`` in hexadecimal."""
    return hashlib.sha256(data).hexdigest()


def sha256_of_json(value: Any, *, checked: bool = False) -> str:
    """Return the SHA-256 of the canonical JSON of ``value`` (``checked``: see canonical_json)."""
    return sha256_hex(canonical_bytes(value, checked=checked))


def sha256_of_file(path: Path, *, chunk_size: int = 1 << 20) -> str:
    """Return the SHA-256 of a file, read in chunks so large files do not fill memory."""
    digest = hashlib.sha256()
    with path.open("rb") as handle:
        while chunk := handle.read(chunk_size):
            digest.update(chunk)
    return digest.hexdigest()
