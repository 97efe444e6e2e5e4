"""Four-eyes requests and decisions.

A reader of the tip files a request (`request`, or a workflow transition / flag change that needs
one); a supervisor in the tip's audience other than the requester decides it (`decide`), and an
approval carries the action out in the same transaction. A closure nobody else in the audience
can decide goes to oversight supervisors, content-free (service.approvals.oversight). Both steps
are audited ("approval.requested", "approval.decided"), and so is the action itself.

Imports service.* only.
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import ColumnElement, or_, select
from sqlalchemy.orm import Session

from service.access.grants import reroute_tip, reveal_identity
from service.approvals.models import Approval, ApprovalKind, ApprovalStatus
from service.approvals.oversight import (
    Decider,
    decider,
    may_decide_as_oversight,
    oversight_requests,
)
from service.approvals.requests import REASON_MAX, file_request, write_case_text
from service.audit.log import record
from service.audit.staff_actions import record_as
from service.compartments.models import Compartment
from service.db import lock_rows
from service.errors import Conflict, Forbidden, InvalidInput, NotFound
from service.export.service import request_payload
from service.staff.models import Role, StaffUser
from service.staff.sessions import Principal
from service.tips.models import Tip
from service.tips.purge import CONTESTED_KEPT, contest_keeps
from service.tips.repository import readable_tips
from service.tips.workflow import apply_closure, apply_findings, lock_tip, lock_tip_for_oversight

__all__ = [
    "REQUESTABLE",
    "Decision",
    "PendingApproval",
    "decide",
    "own_pending",
    "pending_for",
    "request",
]

# Kinds filed directly; closing (with findings or a reason) goes through a transition to "closed".
REQUESTABLE = (
    ApprovalKind.EXPORT,
    ApprovalKind.IDENTITY_REVEAL,
    ApprovalKind.PURGE,
    ApprovalKind.LIFT_LEGAL_HOLD,
    ApprovalKind.REROUTE,
)
PURGE_DETAIL = "approved; the worker purges the tip and destroys its keys within minutes"
EXPORT_DETAIL = (
    "approved; the requester or the approver can now download the referral bundle once "
    "(the tip page, the API or `probity export`)"
)


@dataclass(frozen=True)
class PendingApproval:
    """A request as a decider sees it: ids, codes and dates, never content."""

    id: uuid.UUID
    tip_id: uuid.UUID
    kind: str
    requested_by: str  # username
    requested_at: datetime
    payload: dict[str, Any]
    # Who decides it now: "audience", "oversight" (content-free, outside the audience) or "none"
    # (nobody yet: waits for the first eligible oversight supervisor).
    decider: Decider = "audience"


@dataclass(frozen=True)
class Decision:
    id: uuid.UUID
    tip_id: uuid.UUID
    kind: str
    status: str
    detail: str


def request(
    session: Session,
    principal: Principal,
    tip_id: uuid.UUID,
    *,
    kind: str,
    reason: str | None = None,
    compartment: str | None = None,
    recipient: str | None = None,
    redacted: bool = False,
    notes: list[str] | None = None,
    now: datetime,
) -> Approval:
    """File a request of `kind` (one of REQUESTABLE) on a tip the requester can read. An export
    names the recipient's age key, the variant and the notes (service.export.service)."""
    try:
        wanted = ApprovalKind(kind)
    except ValueError:
        raise InvalidInput("kind: unknown request kind", fields={"kind": "unknown"}) from None
    if wanted not in REQUESTABLE:
        raise InvalidInput(
            "kind: close a tip with findings through a transition to closed",
            fields={"kind": "use_transition"},
        )
    tip = lock_tip(session, principal, tip_id)
    payload: dict[str, Any] = {}
    if wanted is ApprovalKind.PURGE and tip.legal_hold:
        raise Conflict("the tip is under legal hold; it cannot be purged")
    if wanted is ApprovalKind.PURGE and contest_keeps(session, tip):
        raise Conflict(CONTESTED_KEPT)
    if wanted is ApprovalKind.LIFT_LEGAL_HOLD and not tip.legal_hold:
        raise Conflict("the tip is not under legal hold")
    if wanted is ApprovalKind.IDENTITY_REVEAL and tip.identity_recipient is None:
        raise Conflict("the reporter left no contact details")
    if wanted is ApprovalKind.REROUTE:
        payload["compartment"] = _target_compartment(session, tip, compartment)
    elif compartment is not None:
        raise InvalidInput("compartment: only for reroute", fields={"compartment": "unexpected"})
    if wanted is ApprovalKind.EXPORT:
        payload = request_payload(
            session, tip, recipient=recipient, redacted=redacted, notes=notes or []
        )
    elif recipient is not None or redacted or notes:
        raise InvalidInput("recipient, redacted, notes: only for export", fields={"kind": "export"})
    return file_request(
        session, principal, tip, kind=wanted, payload=payload, reason=reason, now=now
    )


def _target_compartment(session: Session, tip: Tip, name: str | None) -> str:
    if not name:
        raise InvalidInput("compartment: required for reroute", fields={"compartment": "required"})
    target = session.scalar(select(Compartment).where(Compartment.name == name))
    if target is None:
        raise InvalidInput("compartment: no such compartment", fields={"compartment": "unknown"})
    if target.id == tip.compartment_id:
        raise InvalidInput("compartment: the tip is already there", fields={"compartment": "same"})
    return target.name


def pending_for(session: Session, principal: Principal) -> list[PendingApproval]:
    """Pending requests `principal` may decide: on tips in their audience, filed by others, then
    closures they decide as oversight (outside the audience, content-free)."""
    if principal.role is not Role.SUPERVISOR:
        raise Forbidden("only supervisors decide requests")
    others = or_(Approval.requested_by.is_(None), Approval.requested_by != principal.staff_id)
    mine = _pending(session, principal, others)
    oversight = oversight_requests(session, principal)
    return mine + [_pending_row(session, a, decider="oversight") for a in oversight]


def own_pending(session: Session, principal: Principal) -> list[PendingApproval]:
    """`principal`'s own requests still waiting, on tips they can still read."""
    return _pending(session, principal, Approval.requested_by == principal.staff_id)


def _pending(
    session: Session, principal: Principal, whose: ColumnElement[bool]
) -> list[PendingApproval]:
    tips = readable_tips(principal.staff_id).with_only_columns(Tip.id).scalar_subquery()
    rows = session.execute(
        select(Approval, StaffUser.username)
        .outerjoin(StaffUser, StaffUser.id == Approval.requested_by)
        .where(Approval.status == ApprovalStatus.PENDING.value, Approval.tip_id.in_(tips), whose)
        .order_by(Approval.requested_at, Approval.id)
    )
    return [
        PendingApproval(
            a.id,
            a.tip_id,
            a.kind,
            name or ("system" if a.requested_by is None else ""),
            a.requested_at,
            dict(a.payload),
            decider(session, a),
        )
        for a, name in rows
    ]


def _pending_row(session: Session, a: Approval, *, decider: Decider) -> PendingApproval:
    name = session.scalar(select(StaffUser.username).where(StaffUser.id == a.requested_by))
    return PendingApproval(
        a.id, a.tip_id, a.kind, name or "", a.requested_at, dict(a.payload), decider
    )


def decide(
    session: Session,
    principal: Principal,
    approval_id: uuid.UUID,
    *,
    approve: bool,
    reason: str | None = None,
    now: datetime,
) -> Decision:
    """Approve (and carry out) or reject a pending request. 403 for a non-supervisor or the
    requester, 404 outside the tip's audience, 409 once decided."""
    if principal.role is not Role.SUPERVISOR:
        raise Forbidden("only supervisors decide requests")
    tip, approval = _lock_request(session, principal, approval_id)
    if approval.status != ApprovalStatus.PENDING.value:
        raise Conflict(f"this request was already {approval.status}")
    if approval.requested_by == principal.staff_id:
        raise Forbidden("you cannot approve your own request")
    if reason is not None and reason.strip():
        approval.decision_reason_blob_id = write_case_text(
            session, tip, reason, field="reason", limit=REASON_MAX
        )
    approval.status = (ApprovalStatus.APPROVED if approve else ApprovalStatus.REJECTED).value
    approval.decided_by = principal.staff_id
    approval.decided_at = now
    session.flush()
    objects = {"approval": approval.id}
    details: dict[str, str | bool] = {"kind": approval.kind, "approved": approve}
    record_as(session, principal, "approval.decided", tip.id, objects=objects, details=details)
    detail = "rejected"
    if approve:
        detail = _carry_out(session, principal, approval, tip, now=now)
    return Decision(approval.id, approval.tip_id, approval.kind, approval.status, detail)


def _lock_request(
    session: Session, principal: Principal, approval_id: uuid.UUID
) -> tuple[Tip, Approval]:
    """The tip and the request, locked in that order (as transitions do: no deadlock). 404 unless
    the tip is in `principal`'s audience or they decide this closure as oversight."""
    found = session.scalar(select(Approval).where(Approval.id == approval_id))
    if found is None:
        raise NotFound("no such request")
    readable = readable_tips(principal.staff_id).with_only_columns(Tip.id)
    as_oversight = session.scalar(readable.where(Tip.id == found.tip_id)) is None
    if as_oversight and not may_decide_as_oversight(session, principal, found):
        raise NotFound("no such request")
    if as_oversight:
        tip = lock_tip_for_oversight(session, found.tip_id)
    else:
        tip = lock_tip(session, principal, found.tip_id)
    approval = lock_rows(session, select(Approval).where(Approval.id == approval_id)).scalar()
    if approval is None:
        raise NotFound("no such request")
    # Re-checked under the locks: the audience may have gained a supervisor in between.
    pending = approval.status == ApprovalStatus.PENDING.value
    if as_oversight and pending and not may_decide_as_oversight(session, principal, approval):
        raise NotFound("no such request")
    return tip, approval


def _carry_out(
    session: Session, principal: Principal, approval: Approval, tip: Tip, *, now: datetime
) -> str:
    kind = ApprovalKind(approval.kind)
    actor = principal.staff_id
    if kind is ApprovalKind.CLOSE_WITH_FINDINGS:
        apply_findings(session, tip, approval.payload["findings"], actor=actor, now=now)
        return "approved; the tip is closed with findings"
    if kind is ApprovalKind.CLOSE_WITH_REASON:
        apply_closure(session, tip, str(approval.payload.get("reason")), actor=actor, now=now)
        return "approved; the tip is closed"
    if kind is ApprovalKind.LIFT_LEGAL_HOLD:
        if not tip.legal_hold:
            raise Conflict("the tip is not under legal hold")
        tip.legal_hold = False
        session.flush()
        record(
            session,
            actor=actor,
            action="tip.flagged",
            tip_id=tip.id,
            details={"flag": "legal_hold", "value": False},
        )
        return "approved; the legal hold is lifted"
    if kind is ApprovalKind.PURGE:
        if tip.legal_hold:
            raise Conflict("the tip is under legal hold; it cannot be purged")
        if contest_keeps(session, tip):
            raise Conflict(CONTESTED_KEPT)
        # Carried out by the worker (service.retention.sweep.run_approved_purges): destroying
        # the bucket key re-seals other tips, which is no work for a request.
        return PURGE_DETAIL
    if kind is ApprovalKind.IDENTITY_REVEAL:
        if approval.requested_by is None:
            raise Conflict("the requester no longer exists")
        reveal_identity(
            session, tip_id=tip.id, approver=principal, requester_id=approval.requested_by
        )
        return "approved; the requester can now read the reporter's contact details"
    if kind is ApprovalKind.REROUTE:
        reroute_tip(
            session, tip_id=tip.id, compartment=approval.payload["compartment"], approver=principal
        )
        return "approved; the tip is rerouted"
    return EXPORT_DETAIL
