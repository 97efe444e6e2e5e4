"""The log's signed statements (crypto.statement), kept in `audit_statements`, and the restore one.

`record_restore` runs inside the restore command's transaction, on the restored database: it
signs a `probity-log-restore/1` statement saying where the restored log continues from and the
newest tree head signed before the loss, stores it, appends `instance.restored` (sizes only), and
deals with the signer's memory in the keys directory. A remembered checkpoint the restored log
no longer contains would make the signer raise its alarm at the next signature; instead, once
the transaction has committed, it is moved aside as evidence
(`audit-last-signed.note.restored-<time>`), an alarm already raised is moved aside the same way,
and the statement itself is written beside them (`audit-restore-<time>.note`): nothing is
dropped, and the log says what happened. A rolled-back restore touches no file. Key rotations
made after the backup was taken are put back from the keys directory's copies, so the restored
log's key chain still reaches the key that signs now.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from sqlalchemy import event, select
from sqlalchemy.orm import Session

from crypto.checkpoint import Checkpoint, open_checkpoint_by_any
from crypto.errors import CryptoError
from crypto.note import Verifier
from crypto.statement import Restore, Rotation, TreeHead, open_rotation, sign_restore
from service.audit.alarm import ALARM_FILE, SIGNED_RECORD_FILE, read_alarm, read_signed_record
from service.audit.guard import verified_root
from service.audit.log import lock_log, log_size, record
from service.audit.models import AuditCheckpoint, AuditLogKey, AuditStatement
from service.audit.proofs import root
from service.config import Settings
from service.db import utcnow
from service.errors import InvalidInput
from service.instance.keys import load_log_signer, log_verifiers, write_secret_file
from service.instance.models import AUDIT_LOG_VKEY, InstanceKey
from service.logging import get_logger

__all__ = [
    "KIND_RESTORE",
    "KIND_ROTATION",
    "check_restore_checkpoints",
    "list_statements",
    "record_restore",
    "store_statement",
]

KIND_ROTATION = "key_rotation"
KIND_RESTORE = "restore"
_PENDING = "probity.audit.restore_files"
_log = get_logger("probity.audit.signer")


def store_statement(session: Session, kind: str, note: str) -> AuditStatement:
    row = AuditStatement(kind=kind, note=note, created_at=utcnow())
    session.add(row)
    session.flush()
    return row


def list_statements(session: Session) -> list[AuditStatement]:
    """Every statement, oldest first (the order a verifier follows them in)."""
    return list(session.scalars(select(AuditStatement).order_by(AuditStatement.id)))


def _open(note: str, keys: list[Verifier], what: str) -> Checkpoint:
    try:
        return open_checkpoint_by_any(note, keys)[0]
    except CryptoError as exc:
        raise InvalidInput(f"{what}: not a checkpoint signed by this log's key ({exc})") from None


def _contained(session: Session, cp: Checkpoint, size: int) -> bool:
    """Whether the restored log (of `size` entries) holds `cp`'s tree; a signed tree head of a
    size it holds with another root is a different history, which no restore explains."""
    if cp.size > size:
        return False
    if root(session, cp.size) != cp.root:
        raise InvalidInput("that checkpoint contradicts the restored log at its own size")
    return True


@dataclass(frozen=True)
class _Last:
    head: TreeHead | None
    remembered_lost: bool  # the keys directory remembers a checkpoint the restored log lacks


def _last_head(
    session: Session, keys: list[Verifier], size: int, supplied: str | None, remembered: str | None
) -> _Last:
    """The newest tree head signed before the loss: the operator's or the remembered one."""
    candidates: list[Checkpoint] = []
    if supplied is not None:
        cp = _open(supplied, keys, "last checkpoint")
        if not _contained(session, cp, size):
            candidates.append(cp)
    remembered_lost = False
    if remembered is not None:
        mine: Checkpoint | None
        try:
            mine = open_checkpoint_by_any(remembered, keys)[0]
        except CryptoError:
            mine = None  # unreadable: moved aside all the same, but it names no tree head
        stored = None if mine is None else session.get(AuditCheckpoint, mine.size)
        remembered_lost = stored is None or stored.note != remembered
        if mine is not None and remembered_lost and not _contained(session, mine, size):
            candidates.append(mine)
    if not candidates:
        return _Last(None, remembered_lost)
    newest = max(candidates, key=lambda c: c.size)
    return _Last(TreeHead(newest.size, newest.root), remembered_lost)


def _recover_rotations(session: Session, keys_dir: Path, current: Verifier) -> int:
    """Put back the rotations made after the backup was taken (the keys directory keeps a copy
    of each), oldest first, so the key chain still leads to the key that signs from now on.
    A copy whose new key is neither the current nor a retired one is left out: its rotation
    never committed (killed before its rollback could delete the copy), and that key never
    signed anything."""
    stored = {row.note for row in list_statements(session) if row.kind == KIND_ROTATION}
    known = log_verifiers(keys_dir)
    found: list[tuple[int, str, Rotation]] = []
    for path in keys_dir.glob("log-rotation-*.note"):
        note = path.read_text(encoding="utf-8")
        try:
            rotation = open_rotation(note)
        except CryptoError:
            _log.warning("unreadable rotation copy ignored", file=path.name)
            continue
        if rotation.new not in known:
            _log.warning("rotation copy of a key never used ignored", file=path.name)
            continue
        if note not in stored:
            found.append((rotation.head.size, note, rotation))
    for _, note, rotation in sorted(found, key=lambda item: item[0]):
        store_statement(session, KIND_ROTATION, note)
        key_id = f"{rotation.new.id:08x}"
        if session.get(AuditLogKey, key_id) is None:
            session.add(
                AuditLogKey(
                    key_id=key_id, verifier=rotation.new.encode(), from_size=rotation.head.size
                )
            )
    vkey = session.get(InstanceKey, AUDIT_LOG_VKEY)
    if vkey is not None and vkey.value != current.encode():
        vkey.value = current.encode()  # the restored row named the key of the backup's day
    return len(found)


def check_restore_checkpoints(
    keys_dir: Path, *, backup_checkpoint: str | None, last_checkpoint: str | None
) -> None:
    """What record_restore checks without the database: that the checkpoints open with the
    restored log's keys. Run first, so a refusal comes before a restore replaces anything
    (PostgreSQL's load cannot be undone by the refusing transaction)."""
    keys = log_verifiers(keys_dir)
    if backup_checkpoint is not None:
        _open(backup_checkpoint, keys, "backup checkpoint")
    if last_checkpoint is not None:
        _open(last_checkpoint, keys, "last checkpoint")


def record_restore(
    session: Session,
    settings: Settings,
    *,
    backup_checkpoint: str | None,
    last_checkpoint: str | None,
) -> str:
    """Sign, store and log the restore statement for the restored log; returns its note text.

    `backup_checkpoint`: the newest checkpoint the backup holds (checked against the restored
    log; the statement's `backup` is the whole restored log, which contains it). `last_checkpoint`:
    the newest checkpoint from before the loss, if the operator has one; the keys directory's
    remembered checkpoint is used too, the newer of the two named as `last`. Raises InvalidInput
    for a checkpoint not signed by this log's keys or contradicting the restored log, and
    HistoryMismatch if the restored log fails the signer's own check.
    """
    keys_dir = settings.effective_keys_dir
    signer = load_log_signer(keys_dir)
    keys = log_verifiers(keys_dir)
    lock_log(session)
    size = log_size(session)
    if backup_checkpoint is not None:
        cp = _open(backup_checkpoint, keys, "backup checkpoint")
        if not _contained(session, cp, size):
            raise InvalidInput("the backup checkpoint is beyond the restored log")
    # The restored log must pass the signer's check on its own (its checkpoints, nodes, entries).
    backup = TreeHead(size, verified_root(session, keys, size, remembered=None))
    remembered = read_signed_record(keys_dir)
    last = _last_head(session, keys, size, last_checkpoint, remembered)
    recovered = _recover_rotations(session, keys_dir, signer.verifier)
    day = utcnow().date().isoformat()
    note = sign_restore(Restore(signer.name, backup, last.head, day), signer)
    store_statement(session, KIND_RESTORE, note)
    details: dict[str, str | int | bool | None] = {
        "backup_size": size,
        "last_size": last.head.size if last.head is not None else None,
        "rotations_restored": recovered,
    }
    record(session, actor="system", action="instance.restored", details=details)
    session.info[_PENDING] = (keys_dir, note, last.remembered_lost)
    return note


def _aside(path: Path, stamp: str) -> None:
    if path.exists():
        path.replace(path.with_name(f"{path.name}.restored-{stamp}"))


def _write_evidence(keys_dir: Path, note: str, remembered_lost: bool) -> None:
    stamp = utcnow().strftime("%Y%m%dT%H%M%SZ")
    write_secret_file(keys_dir / f"audit-restore-{stamp}.note", note.encode())
    alarm = read_alarm(keys_dir)
    if remembered_lost:
        _aside(keys_dir / SIGNED_RECORD_FILE, stamp)
    if alarm is not None:
        _aside(keys_dir / ALARM_FILE, stamp)
    _log.warning(
        "audit_log_restored",
        remembered_moved=remembered_lost,
        alarm_moved=alarm.reason if alarm is not None else None,
    )


@event.listens_for(Session, "after_commit")
def _after_restore(session: Session) -> None:
    pending = session.info.pop(_PENDING, None)
    if pending is None:
        return
    try:
        _write_evidence(*pending)
    except OSError as exc:  # the statement is committed; the signer's alarm will say the rest
        _log.error("restore evidence not written", error=type(exc).__name__)


@event.listens_for(Session, "after_rollback")
def _forget_restore(session: Session) -> None:
    session.info.pop(_PENDING, None)
