"""Membership and conflict changes, and applying the envelope rewrites they queue.

Removing access is immediate in the query: the member's TipAudience rows go, so the tip is a 404
for them at once; the envelope headers still list them until a supervisor holding the tip's keys
applies the queued rewrite. Granting access is queued: nobody but a key holder can add a
recipient. `apply_pending` rewrites the staff and identity envelopes to the current audience, and
rotates the tip's keys when a removal or conflict is among the changes (service.access.rotation).

Decision on removals that would leave a tip with no reader: `remove_member_with_access` refuses
(409) - the last reader must stay until another member has been granted the keys or the tip has
been rerouted, otherwise nobody could ever rewrite its envelopes. A conflict is different: a
conflicted member must lose access whatever it costs. `apply_conflict` given the member's own keys
(they registered it themselves, signed in) first hands their last-reader tips to oversight
(service.access.readerless); any tip still left without a reader is audited and listed for
oversight and the operator until `probity access recover` reroutes it. A conflict for someone
else waits for a second supervisor (service.access.conflicts) before it reaches this module.
"""

from __future__ import annotations

import uuid
from collections.abc import Collection, Iterable
from dataclasses import dataclass

from sqlalchemy import Select, delete, func, select
from sqlalchemy.orm import Session

from service.access.conflict_values import (
    CONFLICT_KINDS,
    MAX_CONFLICT_VALUE,
    ConflictValue,
    conflict_value,
    store_conflict,
)
from service.access.envelopes import KeyHolder, lock_tips
from service.access.models import ChangeOp, ChangeReason, IdentityGrant, PendingAccessChange
from service.access.readerless import hand_over, mark_readerless
from service.access.rewrite import plan_tip, write_plans
from service.audit.log import record
from service.compartments.bootstrap import bootstrap_open, close_bootstrap
from service.compartments.models import Membership
from service.compartments.repository import get_compartment
from service.compartments.service import add_member
from service.db import lock_for_write, utcnow
from service.errors import Conflict, NotFound, NotPermitted
from service.staff.models import Role, StaffConflict, StaffUser
from service.tips.models import Envelope, EnvelopeKind, Tip, TipAudience
from service.tips.subjects import conflicted_tips, tips_naming

__all__ = [
    "CONFLICT_KINDS",
    "MAX_CONFLICT_VALUE",
    "ConflictOutcome",
    "PendingTip",
    "add_member_with_access",
    "apply_conflict",
    "apply_pending",
    "approve_membership",
    "conflict_counts",
    "pending_for",
    "register_conflict",
    "remove_member_with_access",
]


@dataclass(frozen=True)
class ConflictOutcome:
    tips_removed: int  # tips whose audience the member left now
    left_without_reader: int  # of those, tips nobody but the recovery key can open now
    handed_over: int = 0  # of those, tips rerouted to oversight with the member's own keys


@dataclass(frozen=True)
class PendingTip:
    tip_id: uuid.UUID
    adds: int
    removes: int


def _queue(
    session: Session,
    tip_ids: Iterable[uuid.UUID],
    staff_id: uuid.UUID,
    op: ChangeOp,
    reason: ChangeReason,
) -> int:
    rows = [
        PendingAccessChange(tip_id=t, staff_id=staff_id, op=op.value, reason=reason.value)
        for t in tip_ids
    ]
    session.add_all(rows)
    session.flush()
    return len(rows)


def _with_staff_envelope(session: Session, compartment_id: uuid.UUID) -> list[uuid.UUID]:
    """Live tips of a compartment (purged ones have no envelopes left)."""
    return list(
        session.scalars(
            select(Tip.id)
            .join(Envelope, (Envelope.tip_id == Tip.id) & (Envelope.kind == EnvelopeKind.STAFF))
            .where(Tip.compartment_id == compartment_id, Tip.purged.is_(False))
        )
    )


def _conflicted_tips(
    session: Session, staff_id: uuid.UUID, tip_ids: Collection[uuid.UUID]
) -> set[uuid.UUID]:
    if not tip_ids:
        return set()
    return set(tip_ids) & set(session.scalars(conflicted_tips(staff_id)))


def _withdraw(session: Session, staff: StaffUser, tips: Select[uuid.UUID]) -> None:
    """Take `staff` out of the audiences, grants, pending adds and assignments of `tips`."""
    for model in (TipAudience, IdentityGrant, PendingAccessChange):
        query = delete(model).where(model.tip_id.in_(tips), model.staff_id == staff.id)
        if model is PendingAccessChange:
            query = query.where(PendingAccessChange.op == ChangeOp.ADD.value)
        session.execute(query)
    assigned = select(Tip).where(Tip.id.in_(tips), Tip.assignee_id == staff.id)
    for tip in session.scalars(assigned):
        tip.assignee_id = None
    session.flush()


def _held(session: Session, staff: StaffUser, tips: Select[uuid.UUID]) -> list[uuid.UUID]:
    """Which of `tips` have `staff` in their audience."""
    query = select(TipAudience.tip_id).where(
        TipAudience.staff_id == staff.id, TipAudience.tip_id.in_(tips)
    )
    return list(session.scalars(query))


def add_member_with_access(
    session: Session, *, compartment: str, staff: StaffUser, actor: uuid.UUID | str
) -> int:
    """Request a membership (admin pages, CLI, API): it stays pending, with no tip and no key,
    until a supervisor approves it (service.access.memberships). Only while the instance has
    never had an approved supervisor (the bootstrap: service.compartments.bootstrap) is it
    approved at once. Returns how many key adds were queued (0 while pending)."""
    lock_for_write(session)
    membership = add_member(session, compartment=compartment, staff=staff, approved=False)
    record(
        session,
        actor=actor,
        action="compartment.member_requested",
        objects={"staff": staff.id, "compartment": membership.compartment_id},
        details={"role": staff.role.value},
    )
    if bootstrap_open(session):
        return approve_membership(session, membership, staff, approver=None, actor=actor)
    return 0


def approve_membership(
    session: Session,
    membership: Membership,
    staff: StaffUser,
    *,
    approver: uuid.UUID | None,
    actor: uuid.UUID | str,
) -> int:
    """Make a pending membership count and queue an add on every live, non-conflicted tip of
    the compartment; returns how many were queued (a supervisor holding the keys applies them).
    `approver` None: the bootstrap approval of a fresh install. Approving a supervisor closes
    the bootstrap for good."""
    membership.approved_at = utcnow()
    membership.approved_by = approver
    session.flush()
    if staff.role is Role.SUPERVISOR:
        close_bootstrap(session)
    tips = _with_staff_envelope(session, membership.compartment_id)
    held = set(session.scalars(select(TipAudience.tip_id).where(TipAudience.staff_id == staff.id)))
    conflicted = _conflicted_tips(session, staff.id, tips)
    wanted = [t for t in tips if t not in held and t not in conflicted] if staff.active else []
    queued = _queue(session, wanted, staff.id, ChangeOp.ADD, ChangeReason.MEMBER_ADDED)
    details: dict[str, int | bool] = {"tips_queued": queued}
    if approver is None:
        details["bootstrap"] = True
    record(
        session,
        actor=actor,
        action="compartment.member_approved",
        objects={"staff": staff.id, "compartment": membership.compartment_id},
        details=details,
    )
    return queued


def remove_member_with_access(
    session: Session, *, compartment: str, staff: StaffUser, actor: uuid.UUID | str
) -> int:
    """End the membership and the member's access to the compartment's tips at once; queue the
    envelope rewrites. Refuses (409, nothing changed) if a tip would be left with no reader.
    Admins and the CLI remove an approved supervisor only through a request a supervisor decides
    (service.access.memberships.remove_member_as, service.access.changes), which then calls this."""
    lock_for_write(session)
    target = get_compartment(session, compartment)
    membership = session.get(Membership, (target.id, staff.id))
    if membership is None:
        raise NotFound(f"{staff.username!r} is not a member of {compartment!r}")
    compartment_tips = select(Tip.id).where(Tip.compartment_id == target.id)
    held = _held(session, staff, compartment_tips)
    lock_tips(session, held)
    if _sole_reader_of(session, staff.id, held):
        raise Conflict(
            f"removing {staff.username!r} would leave tips of {compartment!r} with no reader: "
            "add another member and have a supervisor apply the pending changes, or reroute "
            "those tips, first"
        )
    session.delete(membership)
    _withdraw(session, staff, compartment_tips)
    live = [t for t in held if session.get(Envelope, (t, EnvelopeKind.STAFF.value)) is not None]
    _queue(session, live, staff.id, ChangeOp.REMOVE, ChangeReason.MEMBER_REMOVED)
    record(
        session,
        actor=actor,
        action="compartment.member_removed",
        objects={"staff": staff.id, "compartment": target.id},
        details={"tips_removed": len(held)},
    )
    return len(held)


def _sole_reader_of(
    session: Session, staff_id: uuid.UUID, tip_ids: Collection[uuid.UUID]
) -> set[uuid.UUID]:
    if not tip_ids:
        return set()
    # Only active readers count: a deactivated member's row opens nothing for anyone.
    others = (
        select(TipAudience.tip_id)
        .join(StaffUser, StaffUser.id == TipAudience.staff_id)
        .where(
            TipAudience.tip_id.in_(list(tip_ids)),
            TipAudience.staff_id != staff_id,
            StaffUser.active.is_(True),
        )
        .distinct()
    )
    return set(tip_ids) - set(session.scalars(others))


def register_conflict(
    session: Session,
    *,
    staff: StaffUser,
    kind: str,
    value: str,
    index_key: bytes,
    actor: uuid.UUID | str,
    holder: KeyHolder | None = None,
) -> ConflictOutcome:
    """Record a conflict of `staff`'s own (as a blind index) and apply it at once: see
    `apply_conflict`. A conflict for someone else goes through service.access.conflicts."""
    conflict = conflict_value(kind, value, index_key)
    return apply_conflict(session, staff=staff, conflict=conflict, actor=actor, holder=holder)


def apply_conflict(
    session: Session,
    *,
    staff: StaffUser,
    conflict: ConflictValue,
    actor: uuid.UUID | str,
    holder: KeyHolder | None = None,
) -> ConflictOutcome:
    """Take `staff` out of every tip naming the conflict, at once. `holder`: `staff` themselves,
    signed in; the tips they were the last reader of go to oversight with their keys first.

    Registering the same conflict again succeeds and changes nothing, so the answer never tells
    whether a value was registered before.
    """
    lock_for_write(session)
    store_conflict(session, staff.id, conflict)
    naming = tips_naming(conflict.kind, conflict.whole, conflict.tokens)
    held = _held(session, staff, naming)
    lock_tips(session, held)
    last = _sole_reader_of(session, staff.id, held)
    own_keys = holder is not None and holder.staff_id == staff.id
    handed = hand_over(session, last, holder) if holder is not None and own_keys else set()
    _withdraw(session, staff, naming)
    _queue(
        session,
        [t for t in held if t not in handed],
        staff.id,
        ChangeOp.REMOVE,
        ChangeReason.CONFLICT,
    )
    record(
        session,
        actor=actor,
        action="conflict.registered",
        objects={"staff": staff.id},
        details={"kind": conflict.kind},
    )
    stranded = last - handed
    mark_readerless(session, stranded, actor=actor, cause="conflict")
    return ConflictOutcome(len(held), left_without_reader=len(stranded), handed_over=len(handed))


def conflict_counts(session: Session, staff: StaffUser) -> dict[str, int]:
    """Registered conflicts per kind (the values are blind indexes: not recoverable)."""
    rows = session.execute(
        select(StaffConflict.kind, func.count())
        .where(StaffConflict.staff_id == staff.id)
        .group_by(StaffConflict.kind)
    )
    counts = dict.fromkeys(CONFLICT_KINDS, 0)
    counts.update({kind: count for kind, count in rows})
    return counts


def _applicable(principal: KeyHolder) -> Select[uuid.UUID]:
    """Tips with pending changes where `principal` is a supervisor holding both envelopes."""
    return (
        select(PendingAccessChange.tip_id)
        .join(TipAudience, TipAudience.tip_id == PendingAccessChange.tip_id)
        .where(TipAudience.staff_id == principal.staff_id, TipAudience.identity_custodian)
        .distinct()
    )


def pending_for(session: Session, principal: KeyHolder) -> list[PendingTip]:
    """Pending changes `principal` could apply, counted per tip (no content, no names)."""
    if principal.role is not Role.SUPERVISOR:
        return []
    rows = session.execute(
        select(PendingAccessChange.tip_id, PendingAccessChange.op, func.count())
        .where(PendingAccessChange.tip_id.in_(_applicable(principal)))
        .group_by(PendingAccessChange.tip_id, PendingAccessChange.op)
    )
    counts: dict[uuid.UUID, dict[str, int]] = {}
    for tip_id, op, count in rows:
        counts.setdefault(tip_id, {})[op] = count
    return [
        PendingTip(
            tip_id=t, adds=c.get(ChangeOp.ADD.value, 0), removes=c.get(ChangeOp.REMOVE.value, 0)
        )
        for t, c in sorted(counts.items(), key=lambda item: str(item[0]))
    ]


def apply_pending(
    session: Session, principal: KeyHolder, *, tip_ids: Collection[uuid.UUID] | None = None
) -> int:
    """Rewrite the envelopes of every tip with pending changes that `principal` (a supervisor
    holding its keys) can apply; returns how many tips were rewritten. Every decryption happens
    before anything is written: if one fails (409), nothing changes."""
    if principal.role is not Role.SUPERVISOR:
        raise NotPermitted("only a supervisor holding a tip's keys can apply access changes")
    lock_for_write(session)
    candidates = set(session.scalars(_applicable(principal)))
    if tip_ids is not None:
        candidates &= set(tip_ids)
    ordered = sorted(candidates, key=str)
    lock_tips(session, ordered)
    plans = [plan_tip(session, t, principal.identity) for t in ordered]
    write_plans(session, plans, actor=principal.staff_id)
    return len(plans)
