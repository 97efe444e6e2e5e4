"""Carrying out queued access changes and moves, with whatever identity holds the tip's keys
(a supervisor's, or the offline recovery key's). Plans are made first - every decryption that
can fail happens there - and written afterwards, so a failure leaves nothing half-done.

When someone loses access (a queued removal or conflict, a reroute or hand-over) the tip's keys
are rotated (service.access.rotation) instead of only rewriting the envelope headers: they may
have kept the old keys. Adds alone only rewrite the headers."""

from __future__ import annotations

import uuid
from collections.abc import Sequence
from dataclasses import dataclass, field

from sqlalchemy import delete, select
from sqlalchemy.orm import Session

from service.access.envelopes import (
    Holder,
    Rewrite,
    current_holders,
    plan_rewrites,
    tip_subjects,
    write_rewrites,
)
from service.access.models import ChangeOp, IdentityGrant, PendingAccessChange
from service.access.rotation import Rotation, has_keys, plan_rotation, write_rotation
from service.approvals.models import Approval, ApprovalKind, ApprovalStatus
from service.audit.log import record
from service.compartments.models import Compartment
from service.errors import Conflict, NotFound
from service.export.models import TipExport
from service.staff.models import Role
from service.tips.models import Tip, TipAudience
from service.tips.routing import eligible_readers

__all__ = ["TipPlan", "move_tip", "plan_tip", "write_plans"]


@dataclass(frozen=True)
class TipPlan:
    tip_id: uuid.UUID
    change_ids: list[uuid.UUID]
    added: list[Holder]
    removed: int
    rewrites: list[Rewrite] = field(default_factory=list)
    rotation: Rotation | None = None  # someone left: new keys instead of rewritten headers


def plan_tip(session: Session, tip_id: uuid.UUID, identity: str) -> TipPlan:
    """The tip's pending changes: adds still eligible now (member, active, not conflicted), and
    both envelopes rewritten for the resulting audience with `identity` - or, when a removal or
    a conflict is among them, the tip's keys rotated for that audience."""
    tip = session.get(Tip, tip_id)
    if tip is None:  # locked by the caller; a deleted tip takes its pending rows with it
        raise NotFound("no such tip")
    changes = list(
        session.scalars(select(PendingAccessChange).where(PendingAccessChange.tip_id == tip_id))
    )
    holders = current_holders(session, tip_id)
    present = {h.staff.id for h in holders}
    subjects = tip_subjects(session, tip_id)
    eligible = {r.id: r for r in eligible_readers(session, tip.compartment_id, subjects)}
    added: list[Holder] = []
    for change in changes:
        reader = eligible.get(change.staff_id)
        if change.op == ChangeOp.ADD.value and reader is not None and reader.id not in present:
            added.append(Holder(staff=reader, custodian=reader.role is Role.SUPERVISOR))
            present.add(reader.id)
    removed = sum(1 for c in changes if c.op == ChangeOp.REMOVE.value)
    audience = [*holders, *added]
    rotating = removed > 0 and has_keys(session, tip_id)
    rotation = plan_rotation(session, tip_id, identity, audience) if rotating else None
    return TipPlan(
        tip_id=tip_id,
        change_ids=[c.id for c in changes],
        added=added,
        removed=removed,
        rewrites=[] if rotation else plan_rewrites(session, tip_id, identity, audience),
        rotation=rotation,
    )


def write_plans(
    session: Session, plans: Sequence[TipPlan], *, actor: uuid.UUID | str, by_recovery: bool = False
) -> None:
    for plan in plans:
        write_rewrites(session, plan.rewrites)
        session.add_all(
            TipAudience(tip_id=plan.tip_id, staff_id=h.staff.id, identity_custodian=h.custodian)
            for h in plan.added
        )
        session.execute(
            delete(PendingAccessChange).where(PendingAccessChange.id.in_(plan.change_ids))
        )
        details: dict[str, int | bool] = {"added": len(plan.added), "removed": plan.removed}
        if by_recovery:
            details["by_recovery"] = True
        record(
            session, actor=actor, action="tip.access_rewritten", tip_id=plan.tip_id, details=details
        )
        if plan.rotation is not None:
            write_rotation(session, plan.rotation, actor=actor, by_recovery=by_recovery)
    session.flush()


def move_tip(
    session: Session,
    tip: Tip,
    target: Compartment,
    identity: str,
    *,
    actor: uuid.UUID | str,
    by_recovery: bool = False,
    handover: bool = False,
) -> int:
    """Give the tip to `target`'s eligible members (conflicts apply, as at intake): the tip's
    keys rotated for them with `identity` (the old audience leaves it), the audience replaced,
    old reveals and pending changes dropped. Returns the new audience's size; 409 (nothing
    changed) if it would have no reader."""
    readers = eligible_readers(session, target.id, tip_subjects(session, tip.id))
    if not any(r.role in (Role.REVIEWER, Role.SUPERVISOR) for r in readers):
        raise Conflict(f"{target.name!r} has no eligible reviewer for this tip")
    holders = [Holder(staff=r, custodian=r.role is Role.SUPERVISOR) for r in readers]
    rotation = None
    if has_keys(session, tip.id):  # a purged tip has nothing left to rotate
        rotation = plan_rotation(session, tip.id, identity, holders, granted=())
    for model in (TipAudience, IdentityGrant, PendingAccessChange):
        session.execute(delete(model).where(model.tip_id == tip.id))
    session.add_all(
        TipAudience(tip_id=tip.id, staff_id=h.staff.id, identity_custodian=h.custodian)
        for h in holders
    )
    previous = tip.compartment_id
    tip.compartment_id = target.id
    if tip.assignee_id not in {h.staff.id for h in holders}:
        tip.assignee_id = None
    session.flush()
    details: dict[str, int | bool] = {"readers": len(holders)}
    if by_recovery:
        details["by_recovery"] = True
    if handover:  # its last reader left it (a conflict), with their own keys
        details["handover"] = True
    _cancel_exports(session, tip.id, actor=actor)
    record(
        session,
        actor=actor,
        action="tip.rerouted",
        tip_id=tip.id,
        objects={"from": previous, "to": target.id},
        details=details,
    )
    if rotation is not None:
        write_rotation(session, rotation, actor=actor, by_recovery=by_recovery)
    return len(holders)


def _cancel_exports(session: Session, tip_id: uuid.UUID, *, actor: uuid.UUID | str) -> None:
    """Export requests of the old audience, pending or approved and unused, end with the move:
    the new audience never agreed to send the tip to that recipient, and `probity export` (the
    operator's recovery key) would otherwise still honour the approval."""
    open_exports = session.scalars(
        select(Approval).where(
            Approval.tip_id == tip_id,
            Approval.kind == ApprovalKind.EXPORT.value,
            Approval.status.in_([ApprovalStatus.PENDING.value, ApprovalStatus.APPROVED.value]),
            Approval.id.not_in(select(TipExport.approval_id)),
        )
    ).all()
    for approval in open_exports:
        approval.status = ApprovalStatus.CANCELLED.value
        record(
            session,
            actor=actor,
            action="approval.cancelled",
            tip_id=tip_id,
            objects={"approval": approval.id},
            details={"kind": approval.kind},
        )
