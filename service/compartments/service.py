"""Creating compartments (audited for the admin pages and `probity compartment add`) and the
membership row rule. Who approves a membership and what it grants: service.access."""

from __future__ import annotations

import re
import uuid

from sqlalchemy import select
from sqlalchemy.orm import Session

from service.audit.log import record
from service.compartments.bootstrap import close_bootstrap
from service.compartments.models import Compartment, Membership
from service.compartments.repository import get_compartment, oversight_compartment
from service.db import lock_for_write, utcnow
from service.errors import Conflict, InvalidInput
from service.staff.models import Role, StaffUser

__all__ = ["add_compartment", "add_compartment_as", "add_member"]

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


def add_compartment_as(
    session: Session, actor: uuid.UUID | str, *, name: str, oversight: bool = False
) -> Compartment:
    """An admin's (or the operator's) new compartment, audited (`compartment.created`)."""
    lock_for_write(session)  # SQLite: the write lock before reading what we change
    compartment = add_compartment(session, name, oversight=oversight)
    record(
        session,
        actor=actor,
        action="compartment.created",
        objects={"compartment": compartment.id},
        details={"oversight": oversight},
    )
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
