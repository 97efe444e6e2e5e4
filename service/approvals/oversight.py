"""Who decides a closure when nobody else in the tip's audience can (issue 10: never a silent
dead end, and no single person ends a tip).

A closure request (close_with_reason, close_with_findings) is decided by an active supervisor of
the tip's audience other than the requester. When there is none - the requester is the only
supervisor reader, or no supervisor reads the tip - the oversight compartment's supervisors
decide it: approved, active, enrolled members who are not conflicted with the tip's subjects
(the routing rule, service.tips.routing.eligible_readers), never the requester. They are usually
outside the audience, so they see and decide the request content-free: ids, codes, dates and who
asked. Closing needs no tip key, and a decision reason is encrypted to the tip's case public key.

The rule is evaluated when the request is listed or decided, not when it is filed: a request
filed while nobody could decide it waits for the first oversight supervisor, and moves back to
the audience if a supervisor joins it.

Imports service.* only.
"""

from __future__ import annotations

import uuid
from datetime import datetime
from typing import Literal

from sqlalchemy import exists, func, or_, select, tuple_
from sqlalchemy.orm import Session

from service.access.envelopes import tip_subjects
from service.approvals.models import Approval, ApprovalKind, ApprovalStatus
from service.compartments.models import Membership
from service.compartments.repository import oversight_compartment
from service.staff.models import ConflictToken, Role, StaffConflict, StaffUser
from service.staff.sessions import Principal
from service.tips.models import Tip, TipAudience
from service.tips.repository import readable_tips
from service.tips.routing import eligible_readers
from service.tips.subjects import SubjectKeys

__all__ = ["CLOSURE_KINDS", "Decider", "decider", "may_decide_as_oversight", "oversight_requests"]

CLOSURE_KINDS = frozenset(
    {ApprovalKind.CLOSE_WITH_REASON.value, ApprovalKind.CLOSE_WITH_FINDINGS.value}
)
Decider = Literal["audience", "oversight", "none"]


def _audience_can_decide(session: Session, tip_id: uuid.UUID, requester: uuid.UUID | None) -> bool:
    others = (
        select(TipAudience.staff_id)
        .join(StaffUser, StaffUser.id == TipAudience.staff_id)
        .where(
            TipAudience.tip_id == tip_id,
            StaffUser.role == Role.SUPERVISOR.value,
            StaffUser.active.is_(True),
        )
    )
    if requester is not None:
        others = others.where(TipAudience.staff_id != requester)
    return bool(session.scalar(select(exists(others))))


def _conflicted_by(session: Session, subjects: SubjectKeys, filed: datetime) -> set[uuid.UUID]:
    """Staff kept off the tip by a conflict registered no later than `filed` (the matching rule
    of service.tips.subjects, restricted by the conflict's registration time)."""
    if not subjects:
        return set()
    early = or_(StaffConflict.created_at.is_(None), StaffConflict.created_at <= filed)
    found: set[uuid.UUID] = set()
    if subjects.indexes:
        pairs = tuple_(StaffConflict.kind, StaffConflict.value).in_(subjects.indexes)
        found |= set(session.scalars(select(StaffConflict.staff_id).where(pairs, early)))
    if subjects.tokens:
        same = (
            (StaffConflict.staff_id == ConflictToken.staff_id)
            & (StaffConflict.kind == ConflictToken.kind)
            & (StaffConflict.value == ConflictToken.conflict)
        )
        complete = (
            select(ConflictToken.staff_id)
            .join(StaffConflict, same)
            .where(ConflictToken.token.in_([t for _, t in subjects.tokens]), early)
            .group_by(
                ConflictToken.staff_id,
                ConflictToken.kind,
                ConflictToken.conflict,
                ConflictToken.size,
            )
            .having(func.count() == ConflictToken.size)
        )
        found |= set(session.scalars(complete))
    return found


def _oversight_deciders(session: Session, approval: Approval) -> set[uuid.UUID]:
    """Oversight's eligible supervisors but the requester. Conflicts count as registered when the
    request was filed: one registered later would hide the request only if the unread tip names
    it, so registering one's own conflict would reveal what the tip names."""
    oversight = oversight_compartment(session)
    if oversight is None:
        return set()
    readers = eligible_readers(session, oversight.id, SubjectKeys())
    kept_off = _conflicted_by(
        session, tip_subjects(session, approval.tip_id), approval.requested_at
    )
    return {
        r.id
        for r in readers
        if r.role == Role.SUPERVISOR and r.id != approval.requested_by and r.id not in kept_off
    }


def decider(session: Session, approval: Approval) -> Decider:
    """Who can decide `approval` now: the audience, oversight, or nobody yet."""
    if approval.kind not in CLOSURE_KINDS or _audience_can_decide(
        session, approval.tip_id, approval.requested_by
    ):
        return "audience"
    if _oversight_deciders(session, approval):
        return "oversight"
    return "none"


def may_decide_as_oversight(session: Session, principal: Principal, approval: Approval) -> bool:
    """Whether `principal` decides this pending closure as an oversight supervisor."""
    return (
        principal.role is Role.SUPERVISOR
        and approval.status == ApprovalStatus.PENDING.value
        and approval.kind in CLOSURE_KINDS
        and approval.requested_by != principal.staff_id
        and not _audience_can_decide(session, approval.tip_id, approval.requested_by)
        and principal.staff_id in _oversight_deciders(session, approval)
    )


def oversight_requests(session: Session, principal: Principal) -> list[Approval]:
    """Pending closures on tips outside `principal`'s audience that they decide as oversight."""
    oversight = oversight_compartment(session)
    if principal.role is not Role.SUPERVISOR or oversight is None:
        return []
    member = session.get(Membership, (oversight.id, principal.staff_id))
    if member is None or member.approved_at is None:
        return []
    readable = readable_tips(principal.staff_id).with_only_columns(Tip.id).scalar_subquery()
    candidates = session.scalars(
        select(Approval)
        .where(
            Approval.status == ApprovalStatus.PENDING.value,
            Approval.kind.in_(sorted(CLOSURE_KINDS)),
            Approval.tip_id.not_in(readable),
        )
        .order_by(Approval.requested_at, Approval.id)
    ).all()
    return [a for a in candidates if may_decide_as_oversight(session, principal, a)]
