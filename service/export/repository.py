"""The export's named queries: the approval (locked), whether it was used, the tip's parts in
display order, and who is who."""

from __future__ import annotations

import uuid
from collections.abc import Iterable

from sqlalchemy import select
from sqlalchemy.orm import Session

from service.approvals.models import Approval, ApprovalKind, ApprovalStatus
from service.db import lock_rows
from service.export.models import TipExport
from service.staff.models import StaffUser
from service.tips.models import Attachment, Message, Note

__all__ = [
    "attachments_of",
    "export_of",
    "lock_approval",
    "matching_approvals",
    "messages_of",
    "notes_of",
    "usernames",
]


def lock_approval(session: Session, approval_id: uuid.UUID) -> Approval | None:
    """The approval row, locked until the transaction ends (SQLite: the write lock)."""
    return lock_rows(session, select(Approval).where(Approval.id == approval_id)).scalar()


def export_of(session: Session, approval_id: uuid.UUID) -> TipExport | None:
    return session.get(TipExport, approval_id)


def matching_approvals(session: Session, tip_id: uuid.UUID) -> list[Approval]:
    """The tip's approved export requests not yet used, oldest first."""
    used = select(TipExport.approval_id)
    return list(
        session.scalars(
            select(Approval)
            .where(
                Approval.tip_id == tip_id,
                Approval.kind == ApprovalKind.EXPORT.value,
                Approval.status == ApprovalStatus.APPROVED.value,
                Approval.id.not_in(used),
            )
            .order_by(Approval.decided_at, Approval.id)
        )
    )


def attachments_of(session: Session, tip_id: uuid.UUID) -> list[Attachment]:
    stmt = select(Attachment).where(Attachment.tip_id == tip_id).order_by(Attachment.seq)
    return list(session.scalars(stmt))


def messages_of(session: Session, tip_id: uuid.UUID) -> list[Message]:
    stmt = select(Message).where(Message.tip_id == tip_id).order_by(Message.seq)
    return list(session.scalars(stmt))


def notes_of(
    session: Session, tip_id: uuid.UUID, ids: Iterable[uuid.UUID] | None = None
) -> list[Note]:
    """The tip's notes (only `ids`, when given), oldest first."""
    stmt = select(Note).where(Note.tip_id == tip_id)
    if ids is not None:
        stmt = stmt.where(Note.id.in_(list(ids)))
    return list(session.scalars(stmt.order_by(Note.created_at, Note.id)))


def usernames(session: Session, ids: Iterable[uuid.UUID | None]) -> dict[uuid.UUID, str]:
    wanted = [i for i in set(ids) if i is not None]
    if not wanted:
        return {}
    rows = session.execute(select(StaffUser.id, StaffUser.username).where(StaffUser.id.in_(wanted)))
    return {row.id: row.username for row in rows}
