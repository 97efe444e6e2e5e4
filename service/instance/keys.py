"""Instance secrets kept out of the database: the audit log's signing key and the blind-index key.

Both live as 0600 files in the keys directory, so a database dump alone can neither forge a
checkpoint nor test guesses against the blind indexes. A rotated-out log key is kept beside them
as `log-signing.<keyid>.retired.key` (0600): its public half still opens the checkpoints it
signed (service.audit.rotation).
"""

from __future__ import annotations

import os
from pathlib import Path

from crypto.blind import new_index_key
from crypto.note import Signer, Verifier, generate_signer, parse_signer

__all__ = [
    "BLIND_INDEX_FILE",
    "LOG_SIGNING_FILE",
    "NEXT_KEY_FILE",
    "create_instance_secrets",
    "load_blind_index_key",
    "load_log_signer",
    "log_verifiers",
    "retired_key_path",
    "rotation_copy_path",
    "switch_log_key",
    "write_secret_file",
]

LOG_SIGNING_FILE = "log-signing.key"
NEXT_KEY_FILE = "log-signing.key.next"  # a rotated-to key waiting for its rotation to commit
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


def retired_key_path(keys_dir: Path, key_id: int) -> Path:
    return keys_dir / f"log-signing.{key_id:08x}.retired.key"


def rotation_copy_path(keys_dir: Path, key_id: int) -> Path:
    """The keys directory's copy of the rotation statement that made log key `key_id`: a restore
    from a backup older than the rotation puts it back in the log."""
    return keys_dir / f"log-rotation-{key_id:08x}.note"


def switch_log_key(keys_dir: Path) -> Verifier | None:
    """Switch to the waiting new log key: keep the current key aside (retired), then move the
    new one in. Returns the new key, or None if none was waiting (service.audit.rotation)."""
    waiting = keys_dir / NEXT_KEY_FILE
    if not waiting.exists():
        return None
    new = parse_signer(waiting.read_text())
    current = keys_dir / LOG_SIGNING_FILE
    old = parse_signer(current.read_text())
    if old.verifier != new.verifier:
        retired = retired_key_path(keys_dir, old.verifier.id)
        if not retired.exists():
            os.link(current, retired)  # same inode: still 0600
        os.replace(waiting, current)
    else:
        waiting.unlink()
    directory = os.open(keys_dir, os.O_RDONLY)
    try:
        os.fsync(directory)
    finally:
        os.close(directory)
    return new.verifier


def log_verifiers(keys_dir: Path) -> list[Verifier]:
    """The current log key's public half first, then those of the retired keys in the keys
    directory: every key whose checkpoints the signer may still find stored."""
    current = load_log_signer(keys_dir).verifier
    retired = [
        parse_signer(path.read_text()).verifier
        for path in sorted(keys_dir.glob("log-signing.*.retired.key"))
    ]
    return [current, *(v for v in retired if v != current)]


def load_blind_index_key(keys_dir: Path) -> bytes:
    return bytes.fromhex((keys_dir / BLIND_INDEX_FILE).read_text().strip())
