"""The keyring escrow: every bucket key, as one age file, kept beside (and off) the server.

Backups leave the `retention_keys` table out; this file is how they open again. It holds ALL
current bucket keys and is rewritten in full (temp file, fsync, rename) after every key creation
or destruction and by the worker, encrypted to the organisation recovery key and to any
`PROBITY_BACKUP_RECIPIENTS`. A destroyed key is in no later copy: that is what makes a purge
hold in backups, so the copy kept off the server must be replaced by the new one, never kept
alongside the old ones (docs/operations.md).
"""

from __future__ import annotations

import base64
import json
import os
import re
from pathlib import Path

from sqlalchemy import select
from sqlalchemy.orm import Session

from crypto.age import decrypt_bytes, encrypt_bytes
from crypto.errors import CryptoError
from service.config import Settings
from service.db import utcnow
from service.errors import Conflict, InvalidInput
from service.instance.models import RECOVERY_RECIPIENT, InstanceKey
from service.retention.models import RetentionKey
from service.retention.repository import KEY_SIZE

__all__ = [
    "KEYRING_FILE",
    "escrow_recipients",
    "keyring_path",
    "load_keyring",
    "read_keyring",
    "write_keyring_escrow",
]

KEYRING_FILE = "retention-keyring.age"
_FORMAT = "probity-retention-keyring/v1"
# What service.retention.buckets names a bucket; anything else in an escrow is not ours.
_BUCKET_NAME = re.compile(r"(open|expires)-[0-9]{4}-[0-9]{2}")


def _well_formed(keys: dict[str, bytes]) -> bool:
    return all(
        isinstance(bucket, str) and _BUCKET_NAME.fullmatch(bucket) and len(key) == KEY_SIZE
        for bucket, key in keys.items()
    )


def keyring_path(settings: Settings) -> Path:
    return settings.effective_keys_dir / KEYRING_FILE


def escrow_recipients(session: Session, settings: Settings) -> list[str]:
    """The recovery recipient, then PROBITY_BACKUP_RECIPIENTS (comma-separated)."""
    recovery = session.get(InstanceKey, RECOVERY_RECIPIENT)
    if recovery is None:
        raise Conflict("instance not initialised: no recovery recipient")
    extra = settings.backup_recipient_list
    return [recovery.value, *extra]


def write_keyring_escrow(session: Session, settings: Settings) -> Path:
    """Write every current bucket key to `<keys dir>/retention-keyring.age`, replacing the old
    file atomically. Call after the transaction that created or destroyed a key committed."""
    rows = session.execute(select(RetentionKey.bucket, RetentionKey.key)).all()
    body = {
        "format": _FORMAT,
        "written": utcnow().isoformat(),
        "keys": {bucket: base64.b64encode(key).decode() for bucket, key in rows},
    }
    try:
        data = encrypt_bytes(json.dumps(body).encode(), escrow_recipients(session, settings))
    except CryptoError:
        raise InvalidInput("PROBITY_BACKUP_RECIPIENTS: not valid age recipients") from None
    path = keyring_path(settings)
    _replace(path, data)
    return path


def _replace(path: Path, data: bytes) -> None:
    path.parent.mkdir(parents=True, exist_ok=True, mode=0o700)
    temp = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    fd = os.open(temp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    try:
        os.write(fd, data)
        os.fsync(fd)
    finally:
        os.close(fd)
    os.replace(temp, path)
    directory = os.open(path.parent, os.O_RDONLY)
    try:
        os.fsync(directory)  # the rename itself survives a crash
    finally:
        os.close(directory)


def read_keyring(path: Path, identities: list[str]) -> dict[str, bytes]:
    """{bucket: key} from an escrow file; InvalidInput when it does not open or is malformed."""
    try:
        body = json.loads(decrypt_bytes(path.read_bytes(), identities))
        if body.get("format") != _FORMAT:
            raise ValueError("format")
        keys = {str(b): base64.b64decode(k, validate=True) for b, k in body["keys"].items()}
    except (CryptoError, ValueError, KeyError, TypeError, AttributeError, OSError):
        raise InvalidInput("the keyring escrow does not open with these identities") from None
    # Checked here, before a restore touches anything (not only when the keys are loaded).
    if not _well_formed(keys):
        raise InvalidInput("the keyring escrow holds a malformed bucket name or key")
    return keys


def load_keyring(session: Session, keys: dict[str, bytes]) -> int:
    """Put escrowed keys into an empty `retention_keys` (a restore); returns how many."""
    if session.scalar(select(RetentionKey.bucket).limit(1)) is not None:
        raise Conflict("retention_keys is not empty; restore into a fresh database")
    if not _well_formed(keys):
        raise InvalidInput("malformed bucket name or key")
    now = utcnow()
    session.add_all(RetentionKey(bucket=b, key=k, created_at=now) for b, k in keys.items())
    session.flush()
    return len(keys)
