"""Signed checkpoints (C2SP tlog-checkpoint) of the audit log, kept in `audit_checkpoints`.

The origin is the log signer's key name. A checkpoint is signed only for a size no checkpoint has
yet, under the append lock, so every stored checkpoint is a prefix of the next.
"""

from __future__ import annotations

from sqlalchemy import Table, insert, select
from sqlalchemy.orm import Session

from crypto.checkpoint import Checkpoint, sign_checkpoint
from crypto.note import Signer
from service.audit.log import lock_log, log_size
from service.audit.models import AuditCheckpoint
from service.audit.proofs import root
from service.config import Settings
from service.db import utcnow
from service.instance.keys import load_log_signer

__all__ = ["current_checkpoint", "latest_checkpoint", "sign_new_checkpoint"]

_CHECKPOINTS: Table = AuditCheckpoint.__table__  # type: ignore[assignment]


def latest_checkpoint(session: Session) -> AuditCheckpoint | None:
    return session.scalars(
        select(AuditCheckpoint).order_by(AuditCheckpoint.size.desc()).limit(1)
    ).first()


def _sign(session: Session, signer: Signer) -> AuditCheckpoint | None:
    lock_log(session)
    size = log_size(session)
    latest = latest_checkpoint(session)
    if latest is not None and latest.size >= size:
        return None
    note = sign_checkpoint(Checkpoint(signer.name, size, root(session, size)), signer)
    created_at = utcnow()
    session.execute(insert(_CHECKPOINTS), {"size": size, "note": note, "created_at": created_at})
    return AuditCheckpoint(size=size, note=note, created_at=created_at)


def sign_new_checkpoint(session: Session, settings: Settings) -> AuditCheckpoint | None:
    """Sign the log at its current size, unless a checkpoint of that size exists (None)."""
    return _sign(session, load_log_signer(settings.effective_keys_dir))


def current_checkpoint(session: Session, settings: Settings) -> str:
    """The newest signed note, signing one first when the log grew since or none exists."""
    latest = latest_checkpoint(session)
    if latest is None or latest.size < log_size(session):
        signed = sign_new_checkpoint(session, settings)
        if signed is not None:
            return signed.note
        latest = latest_checkpoint(session)  # another process signed it meanwhile
    if latest is None:  # cannot happen: the lock above guarantees one exists
        raise RuntimeError("no audit checkpoint after signing")
    return latest.note
