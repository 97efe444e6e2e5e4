"""What admins do to staff accounts: create (with keys, or for self-enrolment), reissue an
enrolment link, deactivate. Compartments and agencies are administered by their own domains
(service.compartments.service, service.agencies.service), memberships by service.access.memberships.

Every change is audited in the caller's transaction. Nothing here reads or grants tip content:
admins and auditors can never be compartment members (compartments.service.add_member refuses).

Imports `crypto`, `service.*`; never HTTP.
"""

from __future__ import annotations

import uuid
from collections.abc import Sequence
from datetime import datetime

from sqlalchemy import func, select, update
from sqlalchemy.orm import Session

from crypto.keys import KdfParams
from service.access.changes import check_oversight_keeps_a_supervisor
from service.access.service import add_member_with_access
from service.audit.log import record
from service.db import lock_for_write, utcnow
from service.errors import Conflict, InvalidInput
from service.staff import enrolment
from service.staff.models import Role, StaffSession, StaffUser
from service.staff.repository import get_staff
from service.staff.service import NewStaff, create_staff
from service.tips.models import Tip, TipAudience

__all__ = [
    "add_staff_as",
    "create_for_enrolment_as",
    "deactivate_staff",
    "reissue_enrolment_as",
]


def add_staff_as(
    session: Session,
    actor: uuid.UUID | str,
    *,
    username: str,
    role: Role,
    password: str,
    kdf: KdfParams,
    compartments: Sequence[str] = (),
) -> NewStaff:
    """Create an account with keys sealed under `password` (`probity staff add`: the operator at
    the server's shell is trusted with the first password); members get the compartments'
    existing tips queued for them.

    No write lock before `create_staff`: its slow password derivation must not hold up other
    writers; its first write takes the lock."""
    _check_staff_compartments(role, compartments)
    new = create_staff(session, username=username, role=role, password=password, kdf=kdf)
    record(
        session,
        actor=actor,
        action="staff.created",
        objects={"staff": new.user.id},
        details={"role": role.value},
    )
    for name in dict.fromkeys(compartments):
        add_member_with_access(session, compartment=name, staff=new.user, actor=actor)
    return new


def _check_staff_compartments(role: Role, compartments: Sequence[str]) -> None:
    if compartments and role in (Role.ADMIN, Role.AUDITOR):
        raise InvalidInput(
            "admins and auditors cannot be compartment members", fields={"compartments": "role"}
        )


def create_for_enrolment_as(
    session: Session,
    actor: uuid.UUID,
    *,
    username: str,
    role: Role,
    now: datetime,
    compartments: Sequence[str] = (),
) -> str:
    """The admin pages' way to add staff: an account with no password and no keys, and the
    one-time enrolment token (returned once, stored only hashed) the member chooses them with.
    Memberships are requested now; the member gets tip keys only once enrolled."""
    _check_staff_compartments(role, compartments)
    lock_for_write(session)
    user, token = enrolment.create_unenrolled(
        session, username=username, role=role, actor=actor, now=now
    )
    for name in dict.fromkeys(compartments):
        add_member_with_access(session, compartment=name, staff=user, actor=actor)
    return token


def reissue_enrolment_as(
    session: Session, actor: uuid.UUID, *, username: str, now: datetime
) -> str:
    """A new link for an account that never enrolled (the old one stops working)."""
    lock_for_write(session)
    return enrolment.issue_enrolment(session, get_staff(session, username), actor=actor, now=now)


def _stranded_tips(session: Session, user: StaffUser) -> int:
    """Live tips whose only active reader (reviewer or supervisor in the audience) is `user`."""
    other_readers = (
        select(TipAudience.tip_id)
        .join(StaffUser, StaffUser.id == TipAudience.staff_id)
        .where(
            TipAudience.staff_id != user.id,
            StaffUser.active,
            StaffUser.role.in_([Role.REVIEWER, Role.SUPERVISOR]),
        )
    )
    query = (
        select(func.count())
        .select_from(TipAudience)
        .join(Tip, Tip.id == TipAudience.tip_id)
        .where(
            TipAudience.staff_id == user.id,
            Tip.purged.is_(False),
            TipAudience.tip_id.not_in(other_readers),
        )
    )
    return session.scalar(query) or 0


def deactivate_staff(session: Session, actor: uuid.UUID, *, username: str) -> None:
    """No more sign-ins, and every open session ends now. Memberships stay until removed
    (removing them queues the envelope rewrites). Refused (409) for the last active supervisor
    of oversight and for the last active reader of a tip."""
    lock_for_write(session)  # SQLite: the write lock before reading what we change
    user = get_staff(session, username)
    if user.id == actor:
        raise InvalidInput("you cannot deactivate your own account")
    if not user.active:
        return
    check_oversight_keeps_a_supervisor(session, staff=user)
    stranded = _stranded_tips(session, user)
    if stranded:
        raise Conflict(
            f"deactivating {username!r} would leave {stranded} tip(s) with no active reader. "
            "First add another reviewer or supervisor to the compartment and have a supervisor "
            "apply the pending access changes, or reroute those tips"
        )
    user.active = False
    ended = session.execute(
        update(StaffSession)
        .where(StaffSession.staff_id == user.id, StaffSession.revoked_at.is_(None))
        .values(revoked_at=utcnow())
    )
    record(
        session,
        actor=actor,
        action="staff.deactivated",
        objects={"staff": user.id},
        details={"sessions_ended": int(getattr(ended, "rowcount", 0) or 0)},
    )
    session.flush()
