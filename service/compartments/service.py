"""Creating compartments and adding members."""

from __future__ import annotations

import re
import uuid

from sqlalchemy import Select, select
from sqlalchemy.orm import Session

from service.compartments.bootstrap import close_bootstrap
from service.compartments.models import Compartment, Membership
from service.db import utcnow
from service.errors import Conflict, InvalidInput, NotFound
from service.staff.models import Role, StaffUser

__all__ = [
    "add_compartment",
    "add_member",
    "approved_supervisors",
    "get_compartment",
    "oversight_compartment",
]

_NAME = re.compile(r"[A-Za-z0-9][A-Za-z0-9 ._-]{0,63}")


def add_compartment(
    session: Session, name: str, *, oversight: bool = False, default: bool = False
) -> Compartment:
    name = name.strip()
    if not _NAME.fullmatch(name):
        raise InvalidInput(
            "compartment name must be 1-64 characters: letters, digits, spaces, '.', '_' or '-'"
        )
    if session.scalar(select(Compartment.id).where(Compartment.name == name)) is not None:
        raise Conflict(f"compartment {name!r} already exists")
    if oversight and oversight_compartment(session) is not None:
        # Routing and four-eyes rely on one oversight compartment: a second one, made alone,
        # could receive leadership tips or decide requests.
        raise Conflict("there is already an oversight compartment")
    if default:
        for other in session.scalars(select(Compartment).where(Compartment.is_default)):
            other.is_default = False
    compartment = Compartment(name=name, oversight=oversight, is_default=default)
    session.add(compartment)
    session.flush()
    return compartment


def get_compartment(session: Session, name: str) -> Compartment:
    compartment = session.scalar(select(Compartment).where(Compartment.name == name))
    if compartment is None:
        raise NotFound(f"no compartment named {name!r}")
    return compartment


def add_member(
    session: Session, *, compartment: str, staff: StaffUser, approved: bool = True
) -> Membership:
    """A membership; `approved=False` leaves it pending a supervisor's four-eyes approval
    (service.access.memberships). The operator's own paths (init, demo) approve at once."""
    if staff.role in (Role.ADMIN, Role.AUDITOR):
        # Admins and auditors never read content, so they never join an audience.
        raise InvalidInput(f"a {staff.role.value} cannot be a compartment member")
    target = get_compartment(session, compartment)
    existing = session.get(Membership, (target.id, staff.id))
    if existing is not None:
        raise Conflict(f"{staff.username!r} is already a member of {compartment!r}")
    membership = Membership(
        compartment_id=target.id, staff_id=staff.id, approved_at=utcnow() if approved else None
    )
    session.add(membership)
    session.flush()
    if approved and staff.role is Role.SUPERVISOR:
        close_bootstrap(session)
    return membership


def oversight_compartment(session: Session) -> Compartment | None:
    return session.scalars(select(Compartment).where(Compartment.oversight)).first()


def approved_supervisors(
    compartment_id: uuid.UUID, *, active_only: bool = True
) -> Select[uuid.UUID]:
    """Ids of the (active) supervisors whose membership of the compartment is approved."""
    query = (
        select(StaffUser.id)
        .join(Membership, Membership.staff_id == StaffUser.id)
        .where(
            Membership.compartment_id == compartment_id,
            Membership.approved_at.is_not(None),
            StaffUser.role == Role.SUPERVISOR,
        )
    )
    return query.where(StaffUser.active.is_(True)) if active_only else query
