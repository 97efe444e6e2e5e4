"""Queries on compartments and their members: by name, the oversight compartment, approved
supervisors, and the admin listing."""

from __future__ import annotations

import uuid
from dataclasses import dataclass

from sqlalchemy import Select, select
from sqlalchemy.orm import Session

from service.compartments.models import Compartment, Membership
from service.errors import NotFound
from service.staff.models import Role, StaffUser

__all__ = [
    "CompartmentRow",
    "approved_supervisors",
    "get_compartment",
    "list_compartments",
    "member_pairs",
    "oversight_compartment",
]


@dataclass(frozen=True)
class CompartmentRow:
    name: str
    oversight: bool
    default: bool
    members: tuple[str, ...]
    pending: tuple[str, ...] = ()  # of those, memberships waiting for a supervisor's approval


def get_compartment(session: Session, name: str) -> Compartment:
    compartment = session.scalar(select(Compartment).where(Compartment.name == name))
    if compartment is None:
        raise NotFound(f"no compartment named {name!r}")
    return compartment


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


def member_pairs(session: Session, *, pending: bool = False) -> list[tuple[str, str]]:
    """(username, compartment name) pairs; `pending`: only those waiting for approval."""
    query = (
        select(StaffUser.username, Compartment.name)
        .join(Membership, Membership.staff_id == StaffUser.id)
        .join(Compartment, Compartment.id == Membership.compartment_id)
        .order_by(Compartment.name, StaffUser.username)
    )
    if pending:
        query = query.where(Membership.approved_at.is_(None))
    return [(u, c) for u, c in session.execute(query)]


def list_compartments(session: Session) -> list[CompartmentRow]:
    pairs, waiting = member_pairs(session), member_pairs(session, pending=True)
    return [
        CompartmentRow(
            name=c.name,
            oversight=c.oversight,
            default=c.is_default,
            members=tuple(u for u, name in pairs if name == c.name),
            pending=tuple(u for u, name in waiting if name == c.name),
        )
        for c in session.scalars(select(Compartment).order_by(Compartment.name))
    ]
