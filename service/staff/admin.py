"""What admins manage: staff accounts, compartments and their members, agencies and routing.

Every change is audited in the caller's transaction. Nothing here reads or grants tip content:
admins and auditors can never be compartment members (compartments.service.add_member refuses),
and membership changes go through service.access.service, which queues the envelope rewrites
(and audits them itself).

Imports `crypto`, `service.*`; never HTTP.
"""

from __future__ import annotations

import uuid
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import func, select, update
from sqlalchemy.orm import Session

from crypto.keys import KdfParams
from service.access.changes import apply_route, check_oversight_keeps_a_supervisor, file_request
from service.access.envelopes import begin_write
from service.access.models import AdminRequest, RequestKind
from service.access.service import add_member_with_access, remove_member_with_access
from service.agencies.models import Agency
from service.agencies.service import add_agency
from service.audit.log import record
from service.compartments.bootstrap import bootstrap_open
from service.compartments.models import Compartment, Membership
from service.compartments.service import add_compartment, get_compartment
from service.db import utcnow
from service.errors import Conflict, InvalidInput, NotFound
from service.staff import enrolment
from service.staff.models import Role, StaffSession, StaffUser
from service.staff.service import NewStaff, create_staff
from service.tips.models import Tip, TipAudience

__all__ = [
    "AgencyRow",
    "CompartmentRow",
    "StaffRow",
    "add_agency_as",
    "add_compartment_as",
    "add_member_as",
    "add_staff_as",
    "create_for_enrolment_as",
    "deactivate_staff",
    "list_agencies",
    "list_compartments",
    "list_staff",
    "reissue_enrolment_as",
    "remove_member_as",
    "route_agency",
]


@dataclass(frozen=True)
class StaffRow:
    id: uuid.UUID
    username: str
    role: Role
    active: bool
    locked: bool
    compartments: tuple[str, ...]
    enrolled: bool = True


@dataclass(frozen=True)
class CompartmentRow:
    name: str
    oversight: bool
    default: bool
    members: tuple[str, ...]
    pending: tuple[str, ...] = ()  # of those, memberships waiting for a supervisor's approval


@dataclass(frozen=True)
class AgencyRow:
    slug: str
    name_en: str
    name_es: str
    country: str
    compartment: str
    active: bool


def _memberships(session: Session, *, pending: bool = False) -> list[tuple[str, str]]:
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


def list_staff(session: Session) -> list[StaffRow]:
    pairs = _memberships(session)
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


def list_compartments(session: Session) -> list[CompartmentRow]:
    pairs, waiting = _memberships(session), _memberships(session, pending=True)
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


def list_agencies(session: Session) -> list[AgencyRow]:
    rows = session.execute(
        select(Agency, Compartment.name)
        .join(Compartment, Compartment.id == Agency.compartment_id)
        .order_by(Agency.slug)
    )
    return [AgencyRow(a.slug, a.name_en, a.name_es, a.country, name, a.active) for a, name in rows]


def _staff(session: Session, username: str) -> StaffUser:
    user = session.scalar(select(StaffUser).where(StaffUser.username == username))
    if user is None:
        raise NotFound(f"no staff member named {username!r}")
    return user


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
    begin_write(session)
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
    begin_write(session)
    return enrolment.issue_enrolment(session, _staff(session, username), actor=actor, now=now)


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
    begin_write(session)  # SQLite: the write lock before reading what we change
    user = _staff(session, username)
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


def add_compartment_as(
    session: Session, actor: uuid.UUID | str, *, name: str, oversight: bool = False
) -> Compartment:
    begin_write(session)  # SQLite: the write lock before reading what we change
    compartment = add_compartment(session, name, oversight=oversight)
    record(
        session,
        actor=actor,
        action="compartment.created",
        objects={"compartment": compartment.id},
        details={"oversight": oversight},
    )
    return compartment


def add_member_as(session: Session, actor: uuid.UUID, *, compartment: str, username: str) -> int:
    """Audited by service.access (compartment.member_added); returns the tips queued."""
    return add_member_with_access(
        session, compartment=compartment, staff=_staff(session, username), actor=actor
    )


def remove_member_as(
    session: Session, actor: uuid.UUID | str, *, compartment: str, username: str
) -> AdminRequest | None:
    """Remove a member at once (audited by service.access; 409 if a tip would lose its last
    reader) - except a supervisor whose membership is approved: that files a request a
    supervisor decides (service.access.changes), returned here."""
    begin_write(session)
    staff = _staff(session, username)
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


def add_agency_as(
    session: Session,
    actor: uuid.UUID | str,
    *,
    slug: str,
    name_en: str,
    name_es: str,
    compartment: str,
    country: str = "",
) -> AdminRequest | None:
    """Add an agency (admin pages and `probity agency add`). Once the bootstrap is over it is a
    new routing target, so it stays inactive - off the reporter form, no tips - until a
    supervisor approves the request returned here."""
    begin_write(session)  # SQLite: the write lock before reading what we change
    agency = add_agency(
        session,
        slug=slug,
        name_en=name_en,
        name_es=name_es,
        compartment=compartment,
        country=country,
    )
    pending = not bootstrap_open(session)
    agency.active = not pending
    record(
        session,
        actor=actor,
        action="agency.created",
        objects={"agency": agency.id, "compartment": agency.compartment_id},
        details={"slug": agency.slug, "active": agency.active},
    )
    if not pending:
        return None
    return file_request(
        session,
        kind=RequestKind.AGENCY_ADD,
        compartment_id=agency.compartment_id,
        agency_id=agency.id,
        actor=actor,
    )


def route_agency(
    session: Session, actor: uuid.UUID | str, *, slug: str, compartment: str
) -> AdminRequest | None:
    """Ask to send the agency's future tips to another compartment: a request a supervisor of
    that compartment (or of oversight) decides, returned here; at once only during the
    bootstrap. Tips already in stay (moving them is a four-eyes reroute)."""
    begin_write(session)  # SQLite: the write lock before reading what we change
    agency = session.scalar(select(Agency).where(Agency.slug == slug))
    if agency is None:
        raise NotFound(f"no agency {slug!r}")
    target = get_compartment(session, compartment)
    if agency.compartment_id == target.id:
        return None
    if bootstrap_open(session):
        apply_route(session, agency, target.id, actor=actor)
        return None
    return file_request(
        session,
        kind=RequestKind.AGENCY_ROUTE,
        compartment_id=target.id,
        previous=agency.compartment_id,
        agency_id=agency.id,
        actor=actor,
    )
