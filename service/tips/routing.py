"""Who may read a tip: the audience, computed once at intake (design section 2).

The compartment comes from the agency's routing (or the default compartment for an unknown
agency). Staff whose conflicts register matches a named officer, badge or unit are left out
(the rule: service.tips.subjects).
A tip that names leadership (the reporter says so, or a subject's rank is a leadership title),
or that would leave no eligible reviewer, goes to oversight.
"""

from __future__ import annotations

import re
import unicodedata
import uuid
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from sqlalchemy import ColumnElement, Select, Subquery, bindparam, select
from sqlalchemy.orm import Session

from service.agencies.models import Agency
from service.compartments.models import Compartment, Membership
from service.errors import NotInitialised
from service.staff.models import Role, StaffUser
from service.tips.subjects import CONFLICTED_STAFF, SubjectKeys

__all__ = [
    "LEADERSHIP_RANKS",
    "AgencyRoute",
    "Audience",
    "Reader",
    "Target",
    "agency_route",
    "compute_audience",
    "eligible_readers",
    "names_leadership",
]


@dataclass(frozen=True)
class Reader:
    """What an envelope needs of a staff member (plain columns: intake is the hot path)."""

    id: uuid.UUID
    username: str
    role: Role
    recipient: str


@dataclass(frozen=True)
class Target:
    """A compartment as routing needs it (plain columns: no ORM entity on the hot path)."""

    id: uuid.UUID
    oversight: bool


@dataclass(frozen=True)
class Audience:
    compartment: Target
    readers: list[Reader]  # receive the conversation and case keys
    custodians: list[Reader]  # supervisors: receive the identity key
    route: str  # "agency", "default", "senior_official" or "no_eligible_reviewer"


_TARGET = select(Compartment.id, Compartment.oversight)


def _oversight(session: Session) -> Target:
    found = session.execute(_TARGET.where(Compartment.oversight)).first()
    if found is None:
        raise NotInitialised("no oversight compartment; run `probity init`")
    return Target(*found)


def _default(session: Session) -> Target:
    found = session.execute(_TARGET.where(Compartment.is_default)).first()
    return Target(*found) if found is not None else _oversight(session)


def _eligible(excluding_conflicts: bool) -> Subquery:
    """Who may read a compartment's tips: the one rule, for intake and for access changes."""
    members = (
        select(
            Membership.compartment_id,
            StaffUser.id,
            StaffUser.username,
            StaffUser.role,
            StaffUser.recipient,
        )
        .join(Membership, Membership.staff_id == StaffUser.id)
        .where(StaffUser.active, StaffUser.enrolled_at.is_not(None))  # no keys before enrolment
        # Four-eyes: a membership an admin requested counts only once a supervisor approved it.
        .where(Membership.approved_at.is_not(None))
    )
    if excluding_conflicts:
        members = members.where(StaffUser.id.not_in(CONFLICTED_STAFF))
    return members.subquery()


def _readers_of(eligible: Subquery) -> Select[Any]:
    return (
        select(*_reader_columns(eligible))
        .where(eligible.c.compartment_id == bindparam("compartment_id"))
        .order_by(eligible.c.username)
    )


def _agency_with_readers(eligible: Subquery) -> Select[Any]:
    return (
        select(Agency.id, Compartment.id, Compartment.oversight, *_reader_columns(eligible))
        .join(Compartment, Compartment.id == Agency.compartment_id)
        .outerjoin(eligible, eligible.c.compartment_id == Compartment.id)
        .where(Agency.slug == bindparam("slug"), Agency.active)
        .order_by(eligible.c.username)
    )


def _reader_columns(eligible: Subquery) -> list[ColumnElement[Any]]:
    return [eligible.c.id, eligible.c.username, eligible.c.role, eligible.c.recipient]


# Built once, with and without the conflicts clause (bind parameters): constructing these per
# tip cost more than running them.
_READERS = {flag: _readers_of(_eligible(flag)) for flag in (False, True)}
_AGENCY_READERS = {flag: _agency_with_readers(_eligible(flag)) for flag in (False, True)}


def _params(subjects: SubjectKeys, **values: object) -> dict[str, object]:
    return {**values, **subjects.params()} if subjects else values


def eligible_readers(
    session: Session, compartment_id: uuid.UUID, subjects: SubjectKeys
) -> list[Reader]:
    """Active members of the compartment not conflicted with any of `subjects` (the same rule
    as at intake; used again when access changes later)."""
    params = _params(subjects, compartment_id=compartment_id)
    return [Reader(*row) for row in session.execute(_READERS[bool(subjects)], params)]


@dataclass(frozen=True)
class AgencyRoute:
    agency_id: uuid.UUID
    compartment: Target
    readers: list[Reader]  # the compartment's eligible readers, for these subjects


def agency_route(session: Session, slug: str, subjects: SubjectKeys) -> AgencyRoute | None:
    """An active agency, its compartment and that compartment's eligible readers, in one query
    (intake's first, on its hot path); None for no such agency."""
    rows = session.execute(_AGENCY_READERS[bool(subjects)], _params(subjects, slug=slug)).all()
    if not rows:
        return None
    agency_id, compartment_id, oversight = rows[0][:3]
    readers = [Reader(*row[3:]) for row in rows if row[3] is not None]
    return AgencyRoute(agency_id, Target(compartment_id, oversight), readers)


def _has_reviewer(staff: Sequence[Reader]) -> bool:
    return any(s.role in (Role.REVIEWER, Role.SUPERVISOR) for s in staff)


# Ranks that mean leadership, in English and Spanish (accent-free, lower case): a tip naming one
# goes to oversight even if the reporter did not tick "senior official".
LEADERSHIP_RANKS = (
    "chief",
    "commissioner",
    "director",
    "superintendent",
    "sheriff",
    "undersheriff",
    "secretary",
    "deputy chief",
    "assistant chief",
    "jefe de la policia",
    "jefe de policia",
    "jefe de seguridad",
    "comisionado",
    "secretario",
    "subsecretario",
    "superintendente",
    "fiscal general",
    "procurador",
    "titular",
    "comandante general",
    "director general",
)


_LEADERSHIP = re.compile(r"\b(?:" + "|".join(map(re.escape, LEADERSHIP_RANKS)) + r")\b")


def names_leadership(ranks: Sequence[str | None]) -> bool:
    return any(_LEADERSHIP.search(_fold(rank or "")) for rank in ranks)


def _fold(text: str) -> str:
    return unicodedata.normalize("NFKD", text).encode("ascii", "ignore").decode().lower()


def compute_audience(
    session: Session,
    *,
    agency: AgencyRoute | None,
    subjects: SubjectKeys,
    senior_official: bool,
    leadership: bool = False,
) -> Audience:
    """`agency` is what `agency_route` found (None for an unknown agency)."""
    if senior_official or leadership:
        compartment, route = _oversight(session), "senior_official"
        readers = eligible_readers(session, compartment.id, subjects)
    elif agency is None:
        compartment, route = _default(session), "default"
        readers = eligible_readers(session, compartment.id, subjects)
    else:
        compartment, route, readers = agency.compartment, "agency", agency.readers
    if not _has_reviewer(readers) and not compartment.oversight:
        compartment, route = _oversight(session), "no_eligible_reviewer"
        readers = eligible_readers(session, compartment.id, subjects)
    custodians = [s for s in readers if s.role is Role.SUPERVISOR]
    return Audience(compartment=compartment, readers=readers, custodians=custodians, route=route)
