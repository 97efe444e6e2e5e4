"""Queries on staff accounts: one by username, and the admin listing."""

from __future__ import annotations

import uuid
from dataclasses import dataclass

from sqlalchemy import select
from sqlalchemy.orm import Session

from service.compartments.repository import member_pairs
from service.db import utcnow
from service.errors import NotFound
from service.staff.models import Role, StaffUser

__all__ = ["StaffRow", "get_staff", "list_staff"]


@dataclass(frozen=True)
class StaffRow:
    id: uuid.UUID
    username: str
    role: Role
    active: bool
    locked: bool
    compartments: tuple[str, ...]
    enrolled: bool = True


def get_staff(session: Session, username: str) -> StaffUser:
    staff = session.scalar(select(StaffUser).where(StaffUser.username == username))
    if staff is None:
        raise NotFound(f"no staff member named {username!r}")
    return staff


def list_staff(session: Session) -> list[StaffRow]:
    pairs = member_pairs(session)
    now = utcnow()
    return [
        StaffRow(
            id=user.id,
            username=user.username,
            role=user.role,
            active=user.active,
            locked=user.locked_until is not None and user.locked_until > now,
            compartments=tuple(c for u, c in pairs if u == user.username),
            enrolled=user.enrolled_at is not None,
        )
        for user in session.scalars(select(StaffUser).order_by(StaffUser.username))
    ]
