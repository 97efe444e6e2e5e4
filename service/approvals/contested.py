"""Contested closures for oversight supervisors (issue 10).

A reporter who contests a closure (service.tips.contest) puts the tip on this list: supervisors of
the oversight compartment see it content-free - ids, compartment, closure code, dates, whether a
reroute is waiting - whether or not they are in its audience, and can ask for a reroute to
oversight. That request is an ordinary four-eyes REROUTE (payload {"compartment": <oversight>,
"contested": true}), audited as "approval.requested" like any other, so auditors see it.

Who carries it out: rewriting the envelopes for oversight needs the tip's keys, which oversight
does not hold. So a supervisor of the tip's audience decides it (the usual reroute rule,
service.approvals.service.decide); if none does, the operator's recovery procedure
(`probity access recover`) is the holder of last resort (docs/workflow.md).

Imports service.* only.
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from datetime import date, datetime

from sqlalchemy import select
from sqlalchemy.orm import Session

from service.approvals.models import Approval, ApprovalKind, ApprovalStatus
from service.approvals.requests import file_request
from service.compartments.models import Compartment, Membership
from service.compartments.repository import oversight_compartment
from service.errors import Conflict, Forbidden, NotFound
from service.staff.models import Role
from service.staff.sessions import Principal
from service.tips.models import Tip
from service.tips.workflow import lock_tip_for_oversight

__all__ = ["ContestedTip", "contested_tips", "request_oversight_reroute"]


@dataclass(frozen=True)
class ContestedTip:
    """What oversight sees of a contested tip: never content."""

    tip_id: uuid.UUID
    compartment: str
    closure_reason: str | None
    closed_on: date | None
    contested_on: date
    in_oversight: bool  # already routed to oversight: nothing to ask
    reroute_pending: bool


def _oversight_supervisor(session: Session, principal: Principal) -> Compartment:
    """The oversight compartment, if `principal` is one of its approved supervisors (403)."""
    oversight = oversight_compartment(session)
    if principal.role is Role.SUPERVISOR and oversight is not None:
        member = session.get(Membership, (oversight.id, principal.staff_id))
        if member is not None and member.approved_at is not None:
            return oversight
    raise Forbidden("only oversight supervisors see contested closures")


def contested_tips(session: Session, principal: Principal) -> list[ContestedTip]:
    """Contested closures, most recently contested first (oversight supervisors only)."""
    _oversight_supervisor(session, principal)
    pending = (
        select(Approval.tip_id)
        .where(
            Approval.kind == ApprovalKind.REROUTE.value,
            Approval.status == ApprovalStatus.PENDING.value,
        )
        .scalar_subquery()
    )
    rows = session.execute(
        select(Tip, Compartment.name, Compartment.oversight, Tip.id.in_(pending))
        .join(Compartment, Compartment.id == Tip.compartment_id)
        .where(Tip.contested_on.is_not(None), Tip.purged.is_(False))
        .order_by(Tip.contested_on.desc(), Tip.id)
    )
    return [
        ContestedTip(
            tip.id,
            name,
            tip.closure_reason,
            _day(tip.closed_at),
            tip.contested_on,
            oversight,
            bool(waiting),
        )
        for tip, name, oversight, waiting in rows
        if tip.contested_on is not None
    ]


def _day(moment: datetime | None) -> date | None:
    return moment.date() if moment is not None else None


def request_oversight_reroute(
    session: Session, principal: Principal, tip_id: uuid.UUID, *, now: datetime
) -> Approval:
    """File a REROUTE of a contested tip to oversight (403 unless an oversight supervisor, 404
    unless contested, 409 when already in oversight or a reroute is waiting)."""
    oversight = _oversight_supervisor(session, principal)
    tip = lock_tip_for_oversight(session, tip_id)
    if tip.contested_on is None:
        raise NotFound("no such contested tip")
    if tip.compartment_id == oversight.id:
        raise Conflict("the tip is already routed to oversight")
    payload = {"compartment": oversight.name, "contested": True}
    return file_request(
        session, principal, tip, kind=ApprovalKind.REROUTE, payload=payload, now=now
    )
