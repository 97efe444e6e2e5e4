"""Rotating the log's signing key (`probity audit rotate-key`).

In one transaction, under the append lock: the log is signed at its current size with the old
key (the signer's guard checks it first), a new Ed25519 key with the same name (the origin) is
made, and a `probity-log-key-rotation/1` statement naming both keys and that tree head is signed
by BOTH keys and stored; the new public key goes into `audit_log_keys` and `instance_keys`, and
`audit.key_rotated` is appended. The new private key waits as `log-signing.key.next` (0600) until
the transaction commits; then the old key is kept aside as `log-signing.<id>.retired.key` and
the new one takes its place, so the next checkpoint is signed by the new key. A copy of the
statement stays in the keys directory (`log-rotation-<id>.note`) for a restore from a backup
older than the rotation (service.audit.statements). A rolled-back
rotation deletes the waiting file; one interrupted between the commit and the switch is
finished by the next `rotate-key` (`finish_rotation`), which then stops there.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from sqlalchemy import event
from sqlalchemy.orm import Session

from crypto.checkpoint import parse_body
from crypto.note import Signer, Verifier, generate_signer, parse_signer
from crypto.statement import Rotation, TreeHead, sign_rotation
from service.audit.alarm import read_alarm
from service.audit.checkpoints import latest_checkpoint, sign_new_checkpoint
from service.audit.log import lock_log, log_size, record
from service.audit.models import AuditLogKey
from service.audit.statements import KIND_ROTATION, store_statement
from service.config import Settings
from service.errors import Conflict, HistoryMismatch
from service.instance.keys import (
    NEXT_KEY_FILE,
    load_log_signer,
    rotation_copy_path,
    switch_log_key,
    write_secret_file,
)
from service.instance.models import AUDIT_LOG_VKEY, InstanceKey
from service.logging import get_logger

__all__ = [
    "NEXT_KEY_FILE",
    "RotationResult",
    "finish_rotation",
    "rotate_log_key",
]

_PENDING = "probity.audit.rotation"
_log = get_logger("probity.audit.signer")


@dataclass(frozen=True)
class RotationResult:
    statement: str  # the signed note
    old: Verifier
    new: Verifier
    size: int  # the tree size at which the new key takes over


def finish_rotation(keys_dir: Path) -> Verifier | None:
    """Switch to the waiting new key: keep the current key aside (retired), then move the new
    one in. Returns the new key, or None if none was waiting."""
    new = switch_log_key(keys_dir)
    if new is not None:
        _log.warning("audit_log_key_rotated", key_id=f"{new.id:08x}")
    return new


def _interrupted(session: Session, keys_dir: Path) -> None:
    """A key left waiting by an earlier run: finish it if that rotation committed, else drop it."""
    waiting = keys_dir / NEXT_KEY_FILE
    if not waiting.exists():
        return
    new = parse_signer(waiting.read_text()).verifier
    current = session.get(InstanceKey, AUDIT_LOG_VKEY)
    if current is not None and current.value == new.encode():
        finish_rotation(keys_dir)
        raise Conflict(
            f"finished an interrupted rotation to key {new.id:08x}; run again to rotate once more"
        )
    waiting.unlink()
    rotation_copy_path(keys_dir, new.id).unlink(missing_ok=True)  # it never committed


def _tree_head(session: Session, settings: Settings) -> TreeHead:
    """The log signed at its current size by the old key (after the guard's check)."""
    sign_new_checkpoint(session, settings)
    latest = latest_checkpoint(session)
    if latest is None or latest.size != log_size(session):
        raise HistoryMismatch("checkpoint_missing")
    cp = parse_body(latest.note.split("\n\n", 1)[0] + "\n")
    return TreeHead(cp.size, cp.root)


def rotate_log_key(session: Session, settings: Settings) -> RotationResult:
    """Rotate the log key in the caller's transaction (see the module docstring)."""
    keys_dir = settings.effective_keys_dir
    alarm = read_alarm(keys_dir)
    if alarm is not None:
        raise HistoryMismatch(alarm.reason)
    lock_log(session)
    _interrupted(session, keys_dir)
    old = load_log_signer(keys_dir)
    head = _tree_head(session, settings)
    new = generate_signer(old.name)
    rotation = Rotation(old.name, old.verifier, new.verifier, head)
    note = sign_rotation(rotation, old, new)
    store_statement(session, KIND_ROTATION, note)
    session.add(
        AuditLogKey(
            key_id=f"{new.verifier.id:08x}", verifier=new.verifier.encode(), from_size=head.size
        )
    )
    vkey = session.get(InstanceKey, AUDIT_LOG_VKEY)
    if vkey is None:
        raise Conflict("this instance is not initialised")
    vkey.value = new.verifier.encode()
    details: dict[str, str | int | bool | None] = {
        "size": head.size,
        "old_key": f"{old.verifier.id:08x}",
        "new_key": f"{new.verifier.id:08x}",
    }
    record(session, actor="system", action="audit.key_rotated", details=details)
    _wait(session, keys_dir, new, note)
    return RotationResult(note, old.verifier, new.verifier, head.size)


def _wait(session: Session, keys_dir: Path, new: Signer, note: str) -> None:
    write_secret_file(keys_dir / NEXT_KEY_FILE, (new.encode() + "\n").encode())
    copy = rotation_copy_path(keys_dir, new.verifier.id)
    copy.unlink(missing_ok=True)  # left by an attempt that never committed
    write_secret_file(copy, note.encode())
    session.info[_PENDING] = (keys_dir, new.verifier.id)


@event.listens_for(Session, "after_commit")
def _switch(session: Session) -> None:
    pending = session.info.pop(_PENDING, None)
    if pending is None:
        return
    try:
        finish_rotation(pending[0])
    except OSError as exc:  # the next rotate-key finishes it; the old key signs meanwhile
        _log.error("log key switch not finished", error=type(exc).__name__)


@event.listens_for(Session, "after_rollback")
def _drop(session: Session) -> None:
    pending = session.info.pop(_PENDING, None)
    if pending is not None:
        keys_dir, key_id = pending
        (keys_dir / NEXT_KEY_FILE).unlink(missing_ok=True)
        rotation_copy_path(keys_dir, key_id).unlink(missing_ok=True)
