"""Who may read a tip: the audience, computed once at intake (design section 2).

The compartment comes from the agency's routing (or the default compartment for an unknown
agency). Staff whose conflicts register matches a named officer, badge or unit are left out.
A tip that names leadership (the reporter says so, or a subject's rank is a leadership title),
or that would leave no eligible reviewer, goes to oversight.
"""

from __future__ import annotations

import re
import unicodedata
import uuid
from collections.abc import Sequence
from dataclasses import dataclass

from sqlalchemy import bindparam, select, tuple_
from sqlalchemy.orm import Session

from service.agencies.models import Agency
from service.compartments.models import Compartment, Membership
from service.errors import NotInitialised
from service.staff.models import Role, StaffConflict, StaffUser

__all__ = [
    "LEADERSHIP_RANKS",
    "Audience",
    "Reader",
    "compute_audience",
    "eligible_readers",
    "names_leadership",
]

SubjectKey = tuple[str, bytes]  # (kind, blind index)


@dataclass(frozen=True)
class Reader:
    """What an envelope needs of a staff member (plain columns: intake is the hot path)."""

    id: uuid.UUID
    username: str
    role: Role
    recipient: str


@dataclass(frozen=True)
class Audience:
    compartment: Compartment
    readers: list[Reader]  # receive the conversation and case keys
    custodians: list[Reader]  # supervisors: receive the identity key
    route: str  # "agency", "default", "senior_official" or "no_eligible_reviewer"


def _oversight(session: Session) -> Compartment:
    found = session.scalars(select(Compartment).where(Compartment.oversight)).first()
    if found is None:
        raise NotInitialised("no oversight compartment; run `probity init`")
    return found


def _default(session: Session) -> Compartment:
    found = session.scalars(select(Compartment).where(Compartment.is_default)).first()
    return found if found is not None else _oversight(session)


# Built once (bind parameters): constructing these per tip cost more than running them.
_MEMBERS = (
    select(StaffUser.id, StaffUser.username, StaffUser.role, StaffUser.recipient)
    .join(Membership, Membership.staff_id == StaffUser.id)
    .where(Membership.compartment_id == bindparam("compartment_id"), StaffUser.active)
    .where(StaffUser.enrolled_at.is_not(None))  # no keys before enrolment
    # Four-eyes: a membership an admin requested counts only once a supervisor approved it.
    .where(Membership.approved_at.is_not(None))
    .order_by(StaffUser.username)
)
_CONFLICTED = select(StaffConflict.staff_id).where(
    tuple_(StaffConflict.kind, StaffConflict.value).in_(bindparam("subjects", expanding=True))
)
_UNCONFLICTED_MEMBERS = _MEMBERS.where(StaffUser.id.not_in(_CONFLICTED))


def eligible_readers(
    session: Session, compartment_id: uuid.UUID, subjects: Sequence[SubjectKey]
) -> list[Reader]:
    """Active members of the compartment not conflicted with any of `subjects` (the same rule
    as at intake; used again when access changes later)."""
    if subjects:
        params = {"compartment_id": compartment_id, "subjects": list(subjects)}
        rows = session.execute(_UNCONFLICTED_MEMBERS, params)
    else:
        rows = session.execute(_MEMBERS, {"compartment_id": compartment_id})
    return [Reader(*row) for row in rows]


def _has_reviewer(staff: Sequence[Reader]) -> bool:
    return any(s.role in (Role.REVIEWER, Role.SUPERVISOR) for s in staff)


# Ranks that mean leadership, in English and Spanish (accent-free, lower case): a tip naming one
# goes to oversight even if the reporter did not tick "senior official".
LEADERSHIP_RANKS = (
    "chief", "commissioner", "director", "superintendent", "sheriff", "undersheriff",
    "secretary", "deputy chief", "assistant chief",
    "jefe de la policia", "jefe de policia", "jefe de seguridad", "comisionado", "secretario",
    "subsecretario", "superintendente",
    "fiscal general", "procurador", "titular", "comandante general", "director general",
)  # fmt: skip


_LEADERSHIP = re.compile(r"\b(?:" + "|".join(map(re.escape, LEADERSHIP_RANKS)) + r")\b")


def names_leadership(ranks: Sequence[str | None]) -> bool:
    return any(_LEADERSHIP.search(_fold(rank or "")) for rank in ranks)


def _fold(text: str) -> str:
    return unicodedata.normalize("NFKD", text).encode("ascii", "ignore").decode().lower()


def compute_audience(
    session: Session,
    *,
    agency: Agency | None,
    subjects: Sequence[SubjectKey],
    senior_official: bool,
    leadership: bool = False,
) -> Audience:
    if senior_official or leadership:
        compartment, route = _oversight(session), "senior_official"
    elif agency is None:
        compartment, route = _default(session), "default"
    else:
        target = session.get(Compartment, agency.compartment_id)
        if target is None:  # The foreign key makes this unreachable.
            raise NotInitialised("agency routes to a missing compartment")
        compartment, route = target, "agency"
    readers = eligible_readers(session, compartment.id, subjects)
    if not _has_reviewer(readers) and not compartment.oversight:
        compartment, route = _oversight(session), "no_eligible_reviewer"
        readers = eligible_readers(session, compartment.id, subjects)
    custodians = [s for s in readers if s.role is Role.SUPERVISOR]
    return Audience(compartment=compartment, readers=readers, custodians=custodians, route=route)
