"""`probity backup FILE`: a consistent snapshot of a running instance in one age file.

The file is encrypted to the organisation recovery key (and any `PROBITY_BACKUP_RECIPIENTS`) and
holds a manifest, the database snapshot (service.instance.snapshot) and the keys directory's
files (service.instance.archive has the format). It is written to `FILE.tmp`, synced, then
renamed: a crash never leaves a half-written file under the final name.

Some data is kept out on purpose: the rows of `EXCLUDED_TABLES` and the key files of
`EXCLUDED_KEY_FILES`, whose keys are escrowed separately so that destroying them (retention)
also reaches every backup.
"""

from __future__ import annotations

import contextlib
import os
import tempfile
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path

from sqlalchemy import Engine
from sqlalchemy.engine import make_url

from crypto.age import recipient_of
from crypto.age_keys import X25519Recipient
from crypto.errors import CryptoError
from service.config import Settings
from service.db import make_session_factory, session_scope
from service.errors import Conflict, InvalidInput, NotInitialised
from service.instance.archive import (
    BACKUP_FORMAT,
    BACKUP_VERSION,
    Manifest,
    NoProgress,
    Progress,
    member_name_ok,
    write_archive,
)
from service.instance.models import AUDIT_LOG_VKEY, RECOVERY_RECIPIENT, InstanceKey
from service.instance.setup import is_initialised
from service.instance.snapshot import (
    SnapshotFacts,
    postgres_snapshot,
    sqlite_path,
    sqlite_snapshot,
)
from service.retention.keyring import write_keyring_escrow

__all__ = [
    "EXCLUDED_KEY_FILES",
    "EXCLUDED_TABLES",
    "BackupResult",
    "backend_of",
    "create_backup",
    "recovery_identity_matches",
]

# Tables whose rows never go into a backup (their structure does). No foreign key may point at
# them: PostgreSQL would refuse to re-create it over the missing rows on restore.
EXCLUDED_TABLES: tuple[str, ...] = ("retention_keys",)
# Files of the keys directory never put into a backup.
EXCLUDED_KEY_FILES: tuple[str, ...] = ("retention-keyring.age",)


@dataclass(frozen=True)
class BackupResult:
    path: Path
    size: int
    manifest: Manifest
    keyring: Path  # the keyring escrow, rewritten now: copy it off the server too


def backend_of(settings: Settings) -> str:
    name = make_url(settings.effective_database_url).get_backend_name()
    return "sqlite" if name == "sqlite" else "postgresql"


def recovery_identity_matches(identity: str, recipient: str) -> bool:
    try:
        return recipient_of(identity) == recipient
    except CryptoError:
        return False


def _instance_keys(engine: Engine) -> tuple[str, str]:
    with make_session_factory(engine)() as session:
        if not is_initialised(session):
            raise NotInitialised("instance not initialised; run `probity init` first")
        recovery = session.get(InstanceKey, RECOVERY_RECIPIENT)
        vkey = session.get(InstanceKey, AUDIT_LOG_VKEY)
        if recovery is None or vkey is None:
            raise NotInitialised("instance not initialised; run `probity init` first")
        return recovery.value, vkey.value


def _recipients(recovery: str, settings: Settings) -> list[str]:
    extra = settings.backup_recipient_list
    for recipient in extra:
        try:
            X25519Recipient.from_str(recipient)
        except CryptoError:
            raise InvalidInput(
                f"PROBITY_BACKUP_RECIPIENTS: {recipient!r} is not an age recipient (age1...)"
            ) from None
    return [recovery, *[r for r in extra if r != recovery]]


def _key_members(keys_dir: Path) -> list[tuple[str, Path | bytes]]:
    """The keys directory's files, read now: before the database snapshot, so the signer's
    record of its last checkpoint is never newer than the checkpoints in the snapshot."""
    if not keys_dir.is_dir():
        raise NotInitialised(f"keys directory {keys_dir} is missing")
    members: list[tuple[str, Path | bytes]] = []
    for path in sorted(keys_dir.iterdir()):
        # Dot files are the alarm module's temporary files, half-written by definition.
        if path.name.startswith(".") or path.name in EXCLUDED_KEY_FILES or not path.is_file():
            continue
        if not member_name_ok(f"keys/{path.name}"):
            raise InvalidInput(f"unexpected file name in the keys directory: {path.name!r}")
        members.append((f"keys/{path.name}", path.read_bytes()))
    return members


def _snapshot(settings: Settings, dest: Path) -> SnapshotFacts:
    url = settings.effective_database_url
    if backend_of(settings) == "sqlite":
        return sqlite_snapshot(sqlite_path(url), dest, EXCLUDED_TABLES)
    return postgres_snapshot(url, dest, EXCLUDED_TABLES)


def create_backup(
    engine: Engine, settings: Settings, target: Path, *, progress: Progress | None = None
) -> BackupResult:
    """Snapshot the running instance into the encrypted backup file `target`."""
    progress = progress or NoProgress()
    if target.exists():
        raise Conflict(f"{target} already exists; choose another file name")
    recovery, vkey = _instance_keys(engine)
    recipients = _recipients(recovery, settings)
    keys = _key_members(settings.effective_keys_dir)
    settings.data_dir.mkdir(parents=True, exist_ok=True, mode=0o700)
    fd, name = tempfile.mkstemp(dir=settings.data_dir, prefix=".backup-", suffix=".snapshot")
    os.close(fd)
    snapshot = Path(name)
    try:
        progress.begin("Taking a snapshot of the database", 0)
        facts = _snapshot(settings, snapshot)
        backend = backend_of(settings)
        manifest = Manifest(
            format=BACKUP_FORMAT,
            version=BACKUP_VERSION,
            backend=backend,
            schema_revision=facts.schema_revision,
            created_at=datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%SZ"),
            checkpoint=facts.checkpoint,
            log_vkey=vkey,
            recovery_recipient=recovery,
            database="database/probity.db" if backend == "sqlite" else "database/probity.pgdump",
            keys=[member for member, _ in keys],
        )
        members: list[tuple[str, Path | bytes]] = [(manifest.database, snapshot), *keys]
        progress.begin("Writing the encrypted backup", _total(members))
        _write_atomically(target, recipients, manifest, members, progress)
    finally:
        snapshot.unlink(missing_ok=True)
    # Written after the snapshot, so it holds every bucket key the snapshot's envelopes use.
    with session_scope(make_session_factory(engine)) as session:
        keyring = write_keyring_escrow(session, settings)
    return BackupResult(target, target.stat().st_size, manifest, keyring)


def _total(members: list[tuple[str, Path | bytes]]) -> int:
    return sum(len(c) if isinstance(c, bytes) else c.stat().st_size for _, c in members)


def _write_atomically(
    target: Path,
    recipients: list[str],
    manifest: Manifest,
    members: list[tuple[str, Path | bytes]],
    progress: Progress,
) -> None:
    temp = target.with_name(target.name + ".tmp")
    fd = os.open(temp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    try:
        with os.fdopen(fd, "wb") as file:
            write_archive(file, recipients, manifest, members, progress)
            file.flush()
            os.fsync(file.fileno())
        os.replace(temp, target)
    except BaseException:
        temp.unlink(missing_ok=True)
        raise
    with contextlib.suppress(OSError):  # the rename itself made durable, where supported
        dir_fd = os.open(target.parent, os.O_RDONLY)
        try:
            os.fsync(dir_fd)
        finally:
            os.close(dir_fd)
