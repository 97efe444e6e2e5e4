"""Instance secrets kept out of the database: the audit log's signing key and the blind-index key.

Both live as 0600 files in the keys directory, so a database dump alone can neither forge a
checkpoint nor test guesses against the blind indexes.
"""

from __future__ import annotations

import os
from pathlib import Path

from crypto.blind import new_index_key
from crypto.note import Signer, generate_signer, parse_signer

__all__ = [
    "BLIND_INDEX_FILE",
    "LOG_SIGNING_FILE",
    "create_instance_secrets",
    "load_blind_index_key",
    "load_log_signer",
    "write_secret_file",
]

LOG_SIGNING_FILE = "log-signing.key"
BLIND_INDEX_FILE = "blind-index.key"


def write_secret_file(path: Path, data: bytes) -> None:
    """Create `path` with mode 0600, refusing to overwrite, and fsync it."""
    path.parent.mkdir(parents=True, exist_ok=True, mode=0o700)
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    try:
        os.write(fd, data)
        os.fsync(fd)
    finally:
        os.close(fd)


def create_instance_secrets(keys_dir: Path, log_name: str) -> Signer:
    signer = generate_signer(log_name)
    write_secret_file(keys_dir / LOG_SIGNING_FILE, (signer.encode() + "\n").encode())
    try:
        write_secret_file(keys_dir / BLIND_INDEX_FILE, new_index_key().hex().encode() + b"\n")
    except BaseException:
        (keys_dir / LOG_SIGNING_FILE).unlink()
        raise
    return signer


def load_log_signer(keys_dir: Path) -> Signer:
    return parse_signer((keys_dir / LOG_SIGNING_FILE).read_text())


def load_blind_index_key(keys_dir: Path) -> bytes:
    return bytes.fromhex((keys_dir / BLIND_INDEX_FILE).read_text().strip())
