"""Staff work on a tip beside its state: assignment, flags, priority override, messages to the
reporter and internal notes. Each change appends its audit entry in the caller's transaction;
text typed by staff is content, so it is encrypted (messages to the conversation key, notes and
override reasons to the case key) and never reaches the audit log.

Who: reviewers and supervisors in the tip's audience (`workflow.lock_tip`; 404 otherwise).
Lifting a legal hold needs a four-eyes approval (service.approvals).

Imports service.* only.
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import select
from sqlalchemy.orm import Session

from service.approvals.models import ApprovalKind
from service.approvals.requests import file_request, write_case_text
from service.audit.staff_actions import record_as
from service.errors import InvalidInput
from service.staff.models import StaffUser
from service.staff.sessions import Principal
from service.tips.conversation import post_staff_message
from service.tips.models import Note, NoteKind, Tip, TipAudience
from service.tips.workflow import READER_ROLES, lock_tip

__all__ = [
    "NOTE_MAX",
    "PRIORITY_MAX",
    "FlagResult",
    "add_note",
    "assign",
    "override_priority",
    "send_message",
    "set_flags",
]

NOTE_MAX = 10_000
PRIORITY_MAX = 1_000


@dataclass(frozen=True)
class FlagResult:
    urgent: bool
    legal_hold: bool
    approval_id: uuid.UUID | None = None  # a pending request to lift the legal hold


def assign(
    session: Session, principal: Principal, tip_id: uuid.UUID, assignee_id: uuid.UUID | None
) -> None:
    """Give the tip to a reader in its audience, or to nobody (None)."""
    tip = lock_tip(session, principal, tip_id)
    if assignee_id is not None:
        assignee = session.scalar(
            select(StaffUser)
            .join(TipAudience, TipAudience.staff_id == StaffUser.id)
            .where(TipAudience.tip_id == tip.id, StaffUser.id == assignee_id)
        )
        if assignee is None or not assignee.active or assignee.role not in READER_ROLES:
            raise InvalidInput(
                "staff_id: the assignee must be a reviewer or supervisor who can read this tip",
                fields={"staff_id": "audience"},
            )
    if tip.assignee_id == assignee_id:
        return
    tip.assignee_id = assignee_id
    session.flush()
    objects = {"assignee": assignee_id} if assignee_id is not None else None
    details = {"assigned": assignee_id is not None}
    record_as(session, principal, "tip.assigned", tip.id, objects=objects, details=details)


def set_flags(
    session: Session,
    principal: Principal,
    tip_id: uuid.UUID,
    *,
    urgent: bool | None = None,
    legal_hold: bool | None = None,
    now: datetime,
) -> FlagResult:
    """Turn flags on or off; an unchanged flag is left alone (no entry). Lifting a legal hold
    files a request for approval instead of lifting it."""
    tip = lock_tip(session, principal, tip_id)
    changes: list[tuple[str, bool]] = []
    if urgent is not None and urgent != tip.urgent:
        tip.urgent = urgent
        changes.append(("urgent", urgent))
    approval_id = None
    if legal_hold is True and not tip.legal_hold:
        tip.legal_hold = True
        changes.append(("legal_hold", True))
    elif legal_hold is False and tip.legal_hold:
        approval = file_request(
            session, principal, tip, kind=ApprovalKind.LIFT_LEGAL_HOLD, payload={}, now=now
        )
        approval_id = approval.id
    session.flush()
    for flag, value in changes:
        record_as(session, principal, "tip.flagged", tip.id, details={"flag": flag, "value": value})
    return FlagResult(tip.urgent, tip.legal_hold, approval_id)


# The field a note's text is stored under, read back by service.tips.view.
_NOTE_FIELD = {NoteKind.NOTE: "body", NoteKind.PRIORITY: "reason"}


def _add_case_note(
    session: Session, principal: Principal, tip: Tip, kind: NoteKind, text: str, *, now: datetime
) -> Note:
    """A note by `principal`, its text encrypted to the case key."""
    blob_id = write_case_text(session, tip, text, field=_NOTE_FIELD[kind], limit=NOTE_MAX)
    author = principal.staff_id
    note = Note(tip_id=tip.id, author_id=author, kind=kind.value, blob_id=blob_id, created_at=now)
    session.add(note)
    return note


def override_priority(
    session: Session,
    principal: Principal,
    tip_id: uuid.UUID,
    *,
    priority: int,
    reason: str,
    now: datetime,
) -> uuid.UUID:
    """Set the priority by hand; the reason is kept as a case-key note. Returns the note id."""
    tip = lock_tip(session, principal, tip_id)
    if not 0 <= priority <= PRIORITY_MAX:
        raise InvalidInput(f"priority: 0-{PRIORITY_MAX}", fields={"priority": "range"})
    note = _add_case_note(session, principal, tip, NoteKind.PRIORITY, reason, now=now)
    previous = tip.priority
    tip.priority = priority
    session.flush()
    objects = {"note": note.id}
    details = {"from": previous, "to": priority}
    record_as(
        session, principal, "tip.priority_overridden", tip.id, objects=objects, details=details
    )
    return note.id


def send_message(
    session: Session, principal: Principal, tip_id: uuid.UUID, body: str, *, now: datetime
) -> uuid.UUID:
    """A message the reporter reads on their status page; returns its id."""
    tip = lock_tip(session, principal, tip_id)
    message = post_staff_message(session, tip, body, staff_id=principal.staff_id, today=now.date())
    record_as(session, principal, "message.sent", tip.id, objects={"message": message.id})
    return message.id


def add_note(
    session: Session, principal: Principal, tip_id: uuid.UUID, body: str, *, now: datetime
) -> uuid.UUID:
    """An internal note, encrypted to the case key (the reporter never sees it)."""
    tip = lock_tip(session, principal, tip_id)
    note = _add_case_note(session, principal, tip, NoteKind.NOTE, body, now=now)
    session.flush()
    record_as(session, principal, "note.added", tip.id, objects={"note": note.id})
    return note.id
