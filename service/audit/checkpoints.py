"""Signed checkpoints (C2SP tlog-checkpoint) of the audit log, kept in `audit_checkpoints`.

The origin is the log signer's key name. A checkpoint is signed only for a size no checkpoint has
yet, under the append lock, so every stored checkpoint is a prefix of the next. Before signing,
service.audit.guard checks the log against the newest stored checkpoint and the one this keys
directory remembers signing; on a mismatch nothing is signed and the alarm is raised
(service.audit.alarm). The remembered checkpoint is written only once the signing transaction
has committed, so a rolled-back signature is never remembered. A log key rotation that committed
but was not switched on disk (a crash right after its commit) is switched before signing: the
key the log says was rotated away never signs past its rotation point (service.audit.rotation).
"""

from __future__ import annotations

import re
from pathlib import Path

from sqlalchemy import Table, event, insert, select
from sqlalchemy.orm import Session

from crypto.checkpoint import Checkpoint, sign_checkpoint
from crypto.note import Signer, parse_signer
from service.audit.alarm import (
    SIGNED_RECORD_FILE,
    raise_alarm,
    read_alarm,
    read_signed_record,
    write_signed_record,
)
from service.audit.guard import verified_root
from service.audit.log import lock_log, log_size
from service.audit.log import record as record_entry
from service.audit.models import AuditCheckpoint
from service.config import Settings
from service.db import utcnow
from service.errors import Conflict, HistoryMismatch
from service.instance.keys import NEXT_KEY_FILE, load_log_signer, log_verifiers, switch_log_key
from service.instance.models import AUDIT_LOG_VKEY, InstanceKey
from service.logging import get_logger

__all__ = [
    "current_checkpoint",
    "latest_checkpoint",
    "resolve_alarm",
    "sign_new_checkpoint",
]

_CHECKPOINTS: Table = AuditCheckpoint.__table__  # type: ignore[assignment]
_PENDING_RECORD = "probity.audit.signed_record"
_log = get_logger("probity.audit.signer")
_TOKEN = re.compile(r"[a-z][a-z0-9_]{0,63}")


def latest_checkpoint(session: Session) -> AuditCheckpoint | None:
    return session.scalars(
        select(AuditCheckpoint).order_by(AuditCheckpoint.size.desc()).limit(1)
    ).first()


def _checked_root(session: Session, signer: Signer, keys_dir: Path, size: int) -> bytes:
    """The root to sign at `size`, or HistoryMismatch (alarm raised) if the log was rewritten."""
    try:
        alarm = read_alarm(keys_dir)
        if alarm is not None:
            raise HistoryMismatch(alarm.reason)
        remembered = read_signed_record(keys_dir)
        return verified_root(session, log_verifiers(keys_dir), size, remembered=remembered)
    except HistoryMismatch as exc:
        raise_alarm(keys_dir, exc.reason, size)
        raise


def resolve_alarm(session: Session, settings: Settings, *, accept_current: bool) -> str:
    """The operator's way out: run the signer's check again; if it passes, record the clearing
    in the log. The caller removes the alarm file (clear_alarm) once this has committed.

    `accept_current` (after restoring a backup older than the last signature) first moves the
    remembered checkpoint aside to `<file>.superseded`, keeping it as evidence. Returns the
    reason being cleared; raises HistoryMismatch while the check still fails.
    """
    keys_dir = settings.effective_keys_dir
    lock_log(session)
    size = log_size(session)
    if accept_current:
        record = keys_dir / SIGNED_RECORD_FILE
        if record.exists():
            record.replace(record.with_name(record.name + ".superseded"))
    verified_root(session, log_verifiers(keys_dir), size, remembered=read_signed_record(keys_dir))
    alarm = read_alarm(keys_dir)
    reason = alarm.reason if alarm is not None else "none"
    if not _TOKEN.fullmatch(reason):
        reason = "unreadable"
    record_entry(
        session,
        actor="system",
        action="audit.alarm_cleared",
        details={"reason": reason, "accept_current": accept_current},
    )
    _log.warning("audit_alarm_cleared", reason=reason, tree_size=size)
    return reason


def _sign(session: Session, signer: Signer, keys_dir: Path) -> AuditCheckpoint | None:
    lock_log(session)
    size = log_size(session)
    new_root = _checked_root(session, signer, keys_dir, size)
    latest = latest_checkpoint(session)
    if latest is not None and latest.size >= size:
        return None
    note = sign_checkpoint(Checkpoint(signer.name, size, new_root), signer)
    created_at = utcnow()
    session.execute(insert(_CHECKPOINTS), {"size": size, "note": note, "created_at": created_at})
    session.info[_PENDING_RECORD] = (keys_dir, note, size)
    return AuditCheckpoint(size=size, note=note, created_at=created_at)


@event.listens_for(Session, "after_commit")
def _remember_signed(session: Session) -> None:
    pending = session.info.pop(_PENDING_RECORD, None)
    if pending is None:
        return
    keys_dir, note, size = pending
    try:
        write_signed_record(keys_dir, note, size)
    except OSError as exc:  # a record left behind only weakens the next check; never fails it
        _log.warning("signed record not written", error=type(exc).__name__, tree_size=size)


@event.listens_for(Session, "after_rollback")
def _forget_signed(session: Session) -> None:
    session.info.pop(_PENDING_RECORD, None)


def sign_new_checkpoint(session: Session, settings: Settings) -> AuditCheckpoint | None:
    """Check the log, then sign it at its current size unless a checkpoint of that size exists
    (None). Raises HistoryMismatch, signing nothing, when the check fails or an alarm is on."""
    keys_dir = settings.effective_keys_dir
    lock_log(session)
    return _sign(session, _current_signer(session, keys_dir), keys_dir)


def _current_signer(session: Session, keys_dir: Path) -> Signer:
    """The log key to sign with: the one `instance_keys` names, switched in first if it is still
    waiting beside the retired one; Conflict rather than a signature by a rotated-away key."""
    signer = load_log_signer(keys_dir)
    waiting = keys_dir / NEXT_KEY_FILE
    vkey = session.get(InstanceKey, AUDIT_LOG_VKEY)
    if vkey is None or vkey.value == signer.verifier.encode() or not waiting.exists():
        return signer
    if parse_signer(waiting.read_text()).verifier.encode() != vkey.value:
        return signer  # a rotation still in progress (or rolled back): the old key is current
    try:
        switch_log_key(keys_dir)
    except OSError:  # another process switching it at the same moment
        pass
    signer = load_log_signer(keys_dir)
    _log.warning("audit_log_key_rotated", key_id=f"{signer.verifier.id:08x}", finished=True)
    if signer.verifier.encode() != vkey.value:
        raise Conflict(
            "the log key rotation is not finished on disk: run `probity audit rotate-key`"
        )
    return signer


def current_checkpoint(session: Session, settings: Settings) -> str:
    """The newest signed note, signing one first when the log grew since or none exists."""
    alarm = read_alarm(settings.effective_keys_dir)
    if alarm is not None:
        raise HistoryMismatch(alarm.reason)
    latest = latest_checkpoint(session)
    if latest is None or latest.size < log_size(session):
        signed = sign_new_checkpoint(session, settings)
        if signed is not None:
            return signed.note
        latest = latest_checkpoint(session)  # another process signed it meanwhile
    if latest is None:  # cannot happen: the lock above guarantees one exists
        raise RuntimeError("no audit checkpoint after signing")
    return latest.note
