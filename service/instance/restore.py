"""`probity restore FILE`: rebuild the database and the keys directory from a backup.

Everything is unpacked into a staging directory inside the data directory first, and nothing
is put in place until age has authenticated the whole file: a damaged, truncated or foreign
backup, or the wrong recovery key, leaves the target as it was (a data directory this restore
created is removed again). The staged database is migrated to head and the restore is recorded
in its audit log (service.audit.statements.record_restore) before it replaces anything, so the
restored instance always says it was restored. Run it with the service stopped.
"""

from __future__ import annotations

import os
import shutil
import sqlite3
import tempfile
from collections.abc import Iterator
from contextlib import closing, contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import IO, BinaryIO

from sqlalchemy import select
from sqlalchemy.orm import Session

from crypto.errors import CryptoError
from service.audit.alarm import ALARM_FILE, SIGNED_RECORD_FILE
from service.audit.statements import check_restore_checkpoints, record_restore
from service.config import Settings
from service.db import make_engine, make_session_factory, session_scope
from service.errors import Conflict, InvalidInput
from service.instance.archive import Manifest, NoProgress, Progress, open_archive
from service.instance.backup import EXCLUDED_KEY_FILES, backend_of, recovery_identity_matches
from service.instance.keys import LOG_SIGNING_FILE
from service.instance.snapshot import (
    empty_postgres,
    load_postgres,
    postgres_is_empty,
    sqlite_path,
)
from service.migrations import current_revision, head_revision, is_known_revision, upgrade
from service.retention.buckets import UNSEALED, unseal
from service.retention.keyring import KEYRING_FILE, load_keyring, read_keyring
from service.retention.models import RetentionKey
from service.tips.models import Envelope

__all__ = ["RestoreResult", "restore_backup"]

_MANIFEST_LIMIT = 1 << 20


@dataclass(frozen=True)
class RestoreResult:
    manifest: Manifest
    migrated_from: str | None  # the backup's schema revision when it was older than head
    statement: str  # what record_restore wrote into the audit log
    # Bucket keys put back from the keyring escrow, and envelopes that do not open under them
    # (their bucket's key destroyed or replaced by a purge after the backup, an older keyring).
    keys_loaded: int = 0
    envelopes_without_key: int = 0
    keys_unused: int = 0  # keys of the keyring for buckets no restored envelope uses: left out


@dataclass(frozen=True)
class _Staged:
    root: Path
    manifest: Manifest

    @property
    def database(self) -> Path:
        return self.root / "database"

    @property
    def keys(self) -> Path:
        return self.root / "keys"


def restore_backup(
    settings: Settings,
    source: Path,
    *,
    recovery_identity: str,
    last_checkpoint: str | None = None,
    keyring: Path | None = None,
    force: bool = False,
    progress: Progress | None = None,
) -> RestoreResult:
    """Restore `source` into the configured database and keys directory. Backups hold no
    retention bucket key: they come from `keyring` (the escrow copy kept off the server), or
    else from the keys directory's escrow when restoring over the same instance."""
    progress = progress or NoProgress()
    backend = backend_of(settings)
    if not force:
        _refuse_non_empty(settings, backend)
    data_dir = settings.data_dir
    created = not data_dir.exists()
    data_dir.mkdir(parents=True, exist_ok=True, mode=0o700)
    root = Path(tempfile.mkdtemp(dir=data_dir, prefix=".restore-"))  # 0700
    try:
        progress.begin("Decrypting and checking the backup", source.stat().st_size)
        with source.open("rb") as src:
            staged = _unpack(src, root, recovery_identity, backend, progress)
        progress.begin("Restoring", 0)
        # The backup is authenticated first (a foreign or damaged file is the clearer error).
        escrow = _read_escrow(settings, keyring, recovery_identity)
        _put_escrow(escrow, staged.keys)
        return _apply(settings, staged, escrow.keys, last_checkpoint=last_checkpoint, force=force)
    except BaseException:
        if created:
            shutil.rmtree(data_dir, ignore_errors=True)
        raise
    finally:
        shutil.rmtree(root, ignore_errors=True)


@dataclass(frozen=True)
class _Escrow:
    data: bytes
    keys: dict[str, bytes]


def _read_escrow(settings: Settings, keyring: Path | None, identity: str) -> _Escrow:
    """The keyring escrow, read and checked before anything is touched."""
    path = keyring if keyring is not None else settings.effective_keys_dir / KEYRING_FILE
    if not path.is_file():
        raise InvalidInput(
            "no retention keyring: pass --keyring with the newest copy of "
            f"{KEYRING_FILE} kept off the server (backups do not hold the bucket keys)",
            fields={"keyring": "required"},
        )
    return _Escrow(path.read_bytes(), read_keyring(path, [identity]))


def _put_escrow(escrow: _Escrow, staged_keys: Path) -> None:
    """The restored keys directory keeps the escrow it was restored with."""
    path = staged_keys / KEYRING_FILE
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "wb") as file:
        file.write(escrow.data)


def _refuse_non_empty(settings: Settings, backend: str) -> None:
    url = settings.effective_database_url
    if backend == "sqlite":
        path = sqlite_path(url)
        if any(p.exists() for p in (path, Path(f"{path}-wal"))):
            raise Conflict(f"{path} already exists; restore into an empty place or use --force")
    elif not postgres_is_empty(url):
        raise Conflict("the configured database is not empty; use --force to replace it")
    keys = settings.effective_keys_dir
    if keys.is_dir() and any(p.name not in EXCLUDED_KEY_FILES for p in keys.iterdir()):
        raise Conflict(f"{keys} is not empty; restore into an empty place or use --force")


def _unpack(src: BinaryIO, root: Path, identity: str, backend: str, progress: Progress) -> _Staged:
    """Extract into `root`; returns only once the whole file is authenticated and checked."""
    manifest: Manifest | None = None
    (root / "keys").mkdir(mode=0o700)
    seen: list[str] = []
    with open_archive(src, identity, progress) as members:
        for name, file in members:
            if manifest is None:
                manifest = _check_manifest(file.read(_MANIFEST_LIMIT + 1), identity, backend)
                continue
            if name != manifest.database and name not in manifest.keys:
                raise InvalidInput("not a Probity backup: a member its manifest does not list")
            if name in seen:
                raise InvalidInput("not a Probity backup: a member appears twice")
            seen.append(name)
            dest = root / "database" if name == manifest.database else root / name
            _copy_private(file, dest)
    if manifest is None or sorted(seen) != sorted([manifest.database, *manifest.keys]):
        raise InvalidInput("the backup is incomplete: members its manifest lists are missing")
    return _Staged(root, manifest)


def _check_manifest(data: bytes, identity: str, backend: str) -> Manifest:
    if len(data) > _MANIFEST_LIMIT:
        raise InvalidInput("not a Probity backup: its manifest is too large")
    manifest = Manifest.from_json(data)
    if not recovery_identity_matches(identity, manifest.recovery_recipient):
        raise InvalidInput(
            "this backup belongs to another instance (its recovery key is not this one)"
        )
    if manifest.backend != backend:
        raise InvalidInput(
            f"this is a {manifest.backend} backup; the configured database is {backend}"
        )
    revision = manifest.schema_revision
    if revision is None:
        raise InvalidInput("not a Probity backup: its database has no schema revision")
    if not is_known_revision(revision):
        raise InvalidInput("this backup's schema is newer than this Probity: upgrade it first")
    return manifest


def _copy_private(file: IO[bytes], dest: Path) -> None:
    fd = os.open(dest, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    with os.fdopen(fd, "wb") as out:
        shutil.copyfileobj(file, out, 64 * 1024)
        out.flush()
        os.fsync(out.fileno())


def _apply(
    settings: Settings,
    staged: _Staged,
    bucket_keys: dict[str, bytes],
    *,
    last_checkpoint: str | None,
    force: bool,
) -> RestoreResult:
    # The restore statement is written with the staged keys, so the signer's own record of
    # what it signed lands there too and moves into place with them.
    staged_settings = settings.model_copy(update={"keys_dir": staged.keys})
    _carry_over(settings.effective_keys_dir, staged.keys)
    check_restore_checkpoints(
        staged.keys, backup_checkpoint=staged.manifest.checkpoint, last_checkpoint=last_checkpoint
    )
    if backend_of(settings) == "sqlite":
        url = f"sqlite:///{staged.database.resolve()}"
        result = _migrate_and_record(
            staged_settings, url, staged.manifest, bucket_keys, last_checkpoint
        )
        _settle_sqlite(staged.database)
        _place_keys(staged.keys, settings.effective_keys_dir)
        _place_file(staged.database, sqlite_path(settings.effective_database_url))
        return result
    url = settings.effective_database_url
    load_postgres(url, staged.database, replace=force)
    try:
        result = _migrate_and_record(
            staged_settings, url, staged.manifest, bucket_keys, last_checkpoint
        )
        _place_keys(staged.keys, settings.effective_keys_dir)
    except BaseException:
        if not force:  # it was empty: leave it so, not half restored
            empty_postgres(url)
        raise
    return result


def _carry_over(old: Path, staged: Path) -> None:
    """Restoring over the same instance (--force): keep what its signer remembers and any
    evidence beside it. The remembered checkpoint is never older than the backup's, so the
    restore statement names it as the last head, and record_restore files it (and an alarm)
    away as evidence instead of leaving the signer to raise its alarm."""
    if not (old / LOG_SIGNING_FILE).is_file():
        return
    if (old / LOG_SIGNING_FILE).read_bytes() != (staged / LOG_SIGNING_FILE).read_bytes():
        return  # another instance's keys: replaced, not merged
    for path in old.iterdir():
        if path.name.startswith(".") or not path.is_file() or path.name in EXCLUDED_KEY_FILES:
            continue
        if path.name in (SIGNED_RECORD_FILE, ALARM_FILE) or not (staged / path.name).exists():
            shutil.copy2(path, staged / path.name)


def _migrate_and_record(
    settings: Settings,
    url: str,
    manifest: Manifest,
    bucket_keys: dict[str, bytes],
    last_checkpoint: str | None,
) -> RestoreResult:
    engine = make_engine(url)
    try:
        before = current_revision(engine)
        migrated_from = None
        if before != head_revision():
            upgrade(engine)
            migrated_from = before
        with session_scope(make_session_factory(engine)) as session:
            # Only the keys the restored envelopes use: a keyring is encrypted to a public
            # recipient, so a planted key of a future bucket would be known to whoever made it.
            used = set(session.scalars(select(Envelope.bucket).distinct()))
            loaded = load_keyring(session, {b: k for b, k in bucket_keys.items() if b in used})
            keyless = _envelopes_without_key(session)
            statement = record_restore(
                session,
                settings,
                backup_checkpoint=manifest.checkpoint,
                last_checkpoint=last_checkpoint,
            )
    finally:
        engine.dispose()
    unused = len(bucket_keys) - loaded
    return RestoreResult(manifest, migrated_from, statement, loaded, keyless, unused)


def _envelopes_without_key(session: Session) -> int:
    """Envelopes that will not open: their bucket key is in no keyring given, or the keyring's
    key for that bucket is not the one that sealed them (a purge after the backup replaced the
    key of a bucket it shared with other tips; an older or foreign keyring). Every envelope is
    tried, since a bucket keeps its name when its key is replaced. Said, never silent."""
    keys = {b: k for b, k in session.execute(select(RetentionKey.bucket, RetentionKey.key))}
    rows = session.execute(
        select(Envelope.tip_id, Envelope.kind, Envelope.bucket, Envelope.data)
        .where(Envelope.bucket != UNSEALED)
        .execution_options(yield_per=500)
    )
    closed = 0
    for tip_id, kind, bucket, data in rows:
        key = keys.get(bucket)
        try:
            if key is None:
                raise CryptoError("no key")
            unseal(key, tip_id, kind, bucket, data)
        except CryptoError:
            closed += 1
    return closed


def _settle_sqlite(path: Path) -> None:
    """Fold the staged database's WAL into the file, so one file moves into place."""
    with closing(sqlite3.connect(path)) as connection:
        connection.execute("PRAGMA journal_mode=DELETE")


def _place_keys(staged: Path, keys_dir: Path) -> None:
    """Replace the keys directory; files escrowed apart from backups stay where they are."""
    if keys_dir.exists():
        for name in EXCLUDED_KEY_FILES:
            if (keys_dir / name).exists() and not (staged / name).exists():
                shutil.move(keys_dir / name, staged / name)
        with _aside(keys_dir):
            shutil.move(staged, keys_dir)
    else:
        keys_dir.parent.mkdir(parents=True, exist_ok=True, mode=0o700)
        shutil.move(staged, keys_dir)
    keys_dir.chmod(0o700)


@contextmanager
def _aside(path: Path) -> Iterator[None]:
    """Move `path` out of the way; delete it once the block succeeded, else put it back."""
    old = path.with_name(f".{path.name}.replaced")
    shutil.rmtree(old, ignore_errors=True)
    path.rename(old)
    try:
        yield
    except BaseException:
        shutil.rmtree(path, ignore_errors=True)
        old.rename(path)
        raise
    shutil.rmtree(old, ignore_errors=True)


def _place_file(staged: Path, path: Path) -> None:
    path.parent.mkdir(parents=True, exist_ok=True, mode=0o700)
    # A WAL left beside the new file would be replayed into it: gone first.
    for suffix in ("-wal", "-shm"):
        Path(f"{path}{suffix}").unlink(missing_ok=True)
    shutil.move(staged, path)
    path.chmod(0o600)
