"""Who decides a four-eyes request about a compartment (memberships, routing, supervisor removals).

The approved, active supervisors of the compartment concerned; when it has none (besides the
people excluded: the requester and the person the request is about), those of the oversight
compartment; when oversight has none either, any approved active supervisor. Never the excluded
people, so a request always needs a second person and never dead-ends while some supervisor is
left. An empty answer means nobody can decide it yet (the pages say so).
"""

from __future__ import annotations

import uuid
from collections.abc import Collection

from sqlalchemy import select
from sqlalchemy.orm import Session

from service.compartments.models import Membership
from service.compartments.repository import approved_supervisors, oversight_compartment
from service.staff.models import Role, StaffUser

__all__ = ["deciders"]


def _any_supervisor(session: Session) -> set[uuid.UUID]:
    query = (
        select(StaffUser.id)
        .join(Membership, Membership.staff_id == StaffUser.id)
        .where(
            Membership.approved_at.is_not(None),
            StaffUser.role == Role.SUPERVISOR,
            StaffUser.active.is_(True),
        )
    )
    return set(session.scalars(query))


def deciders(
    session: Session, compartment_id: uuid.UUID, *, excluding: Collection[uuid.UUID | None]
) -> frozenset[uuid.UUID]:
    """The staff ids who may decide a request about `compartment_id`."""
    own = set(session.scalars(approved_supervisors(compartment_id))) - set(excluding)
    if own:
        return frozenset(own)
    oversight = oversight_compartment(session)
    if oversight is not None and oversight.id != compartment_id:
        watchers = set(session.scalars(approved_supervisors(oversight.id))) - set(excluding)
        if watchers:
            return frozenset(watchers)
    return frozenset(_any_supervisor(session) - set(excluding))
