"""The membership bootstrap: on a fresh instance, before any supervisor could approve anything,
membership requests are approved at once. It closes for good the moment a supervisor's membership
is first approved (a row in instance_keys, written in that same transaction); removing or
deactivating supervisors never reopens it. A database that already has an approved supervisor
membership counts as closed even without the row (and its migration writes the row).

Imports service.* models only.
"""

from __future__ import annotations

from sqlalchemy import select
from sqlalchemy.orm import Session

from service.compartments.models import Membership
from service.instance.models import BOOTSTRAP_CLOSED, InstanceKey
from service.staff.models import Role, StaffUser

__all__ = ["bootstrap_open", "close_bootstrap"]


def bootstrap_open(session: Session) -> bool:
    """True only while the instance has never had an approved supervisor membership."""
    if session.get(InstanceKey, BOOTSTRAP_CLOSED) is not None:
        return False
    approved_supervisor = (
        select(Membership.staff_id)
        .join(StaffUser, StaffUser.id == Membership.staff_id)
        .where(Membership.approved_at.is_not(None), StaffUser.role == Role.SUPERVISOR)
        .limit(1)
    )
    return session.scalar(approved_supervisor) is None


def close_bootstrap(session: Session) -> None:
    """Record that a supervisor has been approved (idempotent; callers hold the write lock)."""
    if session.get(InstanceKey, BOOTSTRAP_CLOSED) is None:
        session.add(InstanceKey(name=BOOTSTRAP_CLOSED, value="closed"))
        session.flush()
