"""Four-eyes on compartment memberships (design section 4: nobody grants tip content alone).

An admin requests a membership (service.access.service.add_member_with_access); it gives no tip
and no key until a supervisor approves it here: a supervisor with an approved membership of that
compartment or - when it has no approved active supervisor - of the oversight compartment
(service.access.deciders), never the person being added. Approving queues the key adds for the
compartment's existing tips (a supervisor holding the keys applies them); rejecting deletes the
request. Both are audited. The membership bootstrap (approval at once) ends for good with the
first approved supervisor (service.compartments.bootstrap).

Admins add and remove members here (`add_member_as`, `remove_member_as`); removing an approved
supervisor is itself a request (service.access.changes). Conflicts registered over HTTP are
limited here too (`check_conflict_registrar`).
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import select
from sqlalchemy.orm import Session

from service.access.changes import check_oversight_keeps_a_supervisor, file_request
from service.access.deciders import deciders
from service.access.envelopes import KeyHolder
from service.access.models import AdminRequest, RequestKind
from service.access.service import (
    add_member_with_access,
    approve_membership,
    remove_member_with_access,
)
from service.audit.log import record
from service.compartments.models import Compartment, Membership
from service.compartments.repository import get_compartment
from service.db import lock_for_write, lock_rows
from service.errors import Conflict, NotFound, NotPermitted
from service.staff.models import Role, StaffUser
from service.staff.repository import get_staff

__all__ = [
    "PendingMember",
    "add_member_as",
    "check_conflict_registrar",
    "decide_membership",
    "pending_memberships",
    "remove_member_as",
]


@dataclass(frozen=True)
class PendingMember:
    """What a deciding supervisor must see: who, with which role, into which compartment."""

    compartment: str
    compartment_id: uuid.UUID
    staff_id: uuid.UUID
    username: str
    role: str
    requested_at: datetime


def _may_decide(session: Session, principal: KeyHolder, membership: Membership) -> bool:
    """The supervisors of the compartment, or of oversight when it has no approved active
    supervisor (service.access.deciders); never the person being added."""
    if membership.approved_at is not None or membership.staff_id == principal.staff_id:
        return False
    allowed = deciders(session, membership.compartment_id, excluding={membership.staff_id})
    return principal.staff_id in allowed


def pending_memberships(session: Session, principal: KeyHolder) -> list[PendingMember]:
    """Requests `principal` (a supervisor) may decide; nothing for anyone else."""
    if principal.role is not Role.SUPERVISOR:
        return []
    rows = session.execute(
        select(Membership, Compartment.name, StaffUser.username, StaffUser.role)
        .join(Compartment, Compartment.id == Membership.compartment_id)
        .join(StaffUser, StaffUser.id == Membership.staff_id)
        .where(Membership.approved_at.is_(None))
        .order_by(Membership.created_at, Compartment.name, StaffUser.username)
    )
    return [
        PendingMember(name, m.compartment_id, m.staff_id, username, Role(role).value, m.created_at)
        for m, name, username, role in rows
        if _may_decide(session, principal, m)
    ]


def _compartment_id(session: Session, compartment: str) -> uuid.UUID:
    try:
        wanted = uuid.UUID(compartment)
    except ValueError:
        found = session.scalar(select(Compartment.id).where(Compartment.name == compartment))
    else:
        found = session.scalar(select(Compartment.id).where(Compartment.id == wanted))
    if found is None:
        raise NotFound("no such membership request")
    return found


def decide_membership(
    session: Session, principal: KeyHolder, *, compartment: str, staff_id: uuid.UUID, approve: bool
) -> int:
    """Approve (queue the key adds; returns how many) or reject (delete) a pending membership.
    403 for a non-supervisor or the person themselves; 404 when `principal` may not decide it
    or it does not exist; 409 once it is approved."""
    if principal.role is not Role.SUPERVISOR:
        raise NotPermitted("only a supervisor decides membership requests")
    if staff_id == principal.staff_id:
        raise NotPermitted("you cannot approve your own membership")
    lock_for_write(session)
    compartment_id = _compartment_id(session, compartment)
    membership = lock_rows(
        session,
        select(Membership).where(
            Membership.compartment_id == compartment_id, Membership.staff_id == staff_id
        ),
    ).scalar()
    if membership is None:
        raise NotFound("no such membership request")
    if membership.approved_at is not None:
        raise Conflict("this membership is already approved")
    staff = session.get(StaffUser, staff_id)
    if staff is None or not _may_decide(session, principal, membership):
        raise NotFound("no such membership request")
    if approve:
        return approve_membership(
            session, membership, staff, approver=principal.staff_id, actor=principal.staff_id
        )
    session.delete(membership)
    session.flush()
    record(
        session,
        actor=principal.staff_id,
        action="compartment.member_rejected",
        objects={"staff": staff_id, "compartment": compartment_id},
        details={"role": staff.role.value},
    )
    return 0


def check_conflict_registrar(
    session: Session, *, registrar_id: uuid.UUID, role: Role, staff: StaffUser
) -> None:
    """Over HTTP a conflict is registered by the staff member themselves, or by a supervisor
    with an approved membership of a compartment `staff` belongs to (403 otherwise; the answer
    never depends on matches). Not by an admin: with the backlog counts, that was an oracle of
    which names appear in reports."""
    if staff.id == registrar_id:
        return
    if role is Role.SUPERVISOR:
        mine = select(Membership.compartment_id).where(
            Membership.staff_id == registrar_id, Membership.approved_at.is_not(None)
        )
        shared = select(Membership.compartment_id).where(
            Membership.staff_id == staff.id, Membership.compartment_id.in_(mine)
        )
        if session.scalar(shared.limit(1)) is not None:
            return
    raise NotPermitted(
        "only the staff member or a supervisor of one of their compartments can register it"
    )


def add_member_as(session: Session, actor: uuid.UUID, *, compartment: str, username: str) -> int:
    """Audited by service.access (compartment.member_added); returns the tips queued."""
    return add_member_with_access(
        session, compartment=compartment, staff=get_staff(session, username), actor=actor
    )


def remove_member_as(
    session: Session, actor: uuid.UUID | str, *, compartment: str, username: str
) -> AdminRequest | None:
    """Remove a member at once (audited by service.access; 409 if a tip would lose its last
    reader) - except a supervisor whose membership is approved: that files a request a
    supervisor decides (service.access.changes), returned here."""
    lock_for_write(session)
    staff = get_staff(session, username)
    target = get_compartment(session, compartment)
    membership = session.get(Membership, (target.id, staff.id))
    if membership is not None and membership.approved_at and staff.role is Role.SUPERVISOR:
        check_oversight_keeps_a_supervisor(session, staff=staff, compartment_id=target.id)
        return file_request(
            session,
            kind=RequestKind.SUPERVISOR_REMOVAL,
            compartment_id=target.id,
            staff_id=staff.id,
            actor=actor,
        )
    remove_member_with_access(session, compartment=compartment, staff=staff, actor=actor)
    return None
