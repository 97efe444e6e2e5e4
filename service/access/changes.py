"""Admins' change requests: instance-level changes that would change who reads future tips.

Routing an agency to another compartment, adding an agency (a new routing target), removing
a supervisor from a compartment and recovering a staff member who lost their password
(`staff_recovery`, decided in oversight; carried out by service.staff.recovery) are not done by
the admin (or the operator at the CLI) alone: they file an `AdminRequest` here, and a supervisor
decides it - one of the compartment concerned or, when it has no approved active supervisor, of
oversight (service.access.deciders); never the requester nor the member the request is about.
Filing and deciding are both audited. An added agency stays off the reporter form and receives
no tip until approved.

Tip-bound four-eyes requests (closures, reveals, reroutes) live in service.approvals; these have
no tip. Only during the membership bootstrap (no supervisor approved yet, nobody to ask) do the
admin paths apply changes at once (service.agencies.service, service.access.memberships).

May import service.* and crypto.*; never FastAPI, Starlette or Jinja2.
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import select
from sqlalchemy.orm import Session

from service.access.deciders import deciders
from service.access.envelopes import KeyHolder
from service.access.models import AdminRequest, RequestKind, RequestStatus
from service.access.service import remove_member_with_access
from service.agencies.models import Agency
from service.audit.log import record
from service.compartments.models import Compartment
from service.compartments.repository import approved_supervisors, oversight_compartment
from service.db import lock_rows, utcnow
from service.errors import Conflict, NotFound, NotPermitted
from service.staff.models import Role, StaffUser

__all__ = [
    "ChangeView",
    "apply_route",
    "check_oversight_keeps_a_supervisor",
    "decidable_changes",
    "decide_change",
    "file_request",
    "pending_changes",
]


@dataclass(frozen=True)
class ChangeView:
    """What a decider must see: what changes, for whom, who asked. No tip, no content."""

    id: uuid.UUID
    kind: str
    compartment: str  # route/add: where tips will go; removal: the compartment left
    previous: str | None  # route: where the agency's tips go now
    agency: str | None  # slug
    agency_name: str | None
    username: str | None  # removal: the supervisor leaving
    requested_by: str  # username, or "operator" for the CLI
    requested_at: datetime
    decidable: bool  # somebody can decide it now


def file_request(
    session: Session,
    *,
    kind: RequestKind,
    compartment_id: uuid.UUID,
    actor: uuid.UUID | str,
    agency_id: uuid.UUID | None = None,
    staff_id: uuid.UUID | None = None,
    previous: uuid.UUID | None = None,
) -> AdminRequest:
    """File a pending request (callers hold the write lock); 409 if the same one is pending."""
    same = select(AdminRequest.id).where(
        AdminRequest.status == RequestStatus.PENDING.value, AdminRequest.kind == kind.value
    )
    if kind in (RequestKind.SUPERVISOR_REMOVAL, RequestKind.STAFF_RECOVERY):
        same = same.where(
            AdminRequest.staff_id == staff_id, AdminRequest.compartment_id == compartment_id
        )
    else:
        same = same.where(AdminRequest.agency_id == agency_id)
    if session.scalar(same.limit(1)) is not None:
        raise Conflict("a change to this agency or member is already waiting for approval")
    row = AdminRequest(
        kind=kind.value,
        compartment_id=compartment_id,
        previous_compartment_id=previous,
        agency_id=agency_id,
        staff_id=staff_id,
        requested_by=actor if isinstance(actor, uuid.UUID) else None,
    )
    session.add(row)
    session.flush()
    record(
        session,
        actor=actor,
        action="admin_request.filed",
        objects=_objects(row),
        details={"kind": kind.value},
    )
    return row


def _objects(row: AdminRequest) -> dict[str, uuid.UUID | str]:
    objects: dict[str, uuid.UUID | str] = {"request": row.id, "compartment": row.compartment_id}
    for key, value in (("agency", row.agency_id), ("staff", row.staff_id)):
        if value is not None:
            objects[key] = value
    return objects


def _excluded(row: AdminRequest) -> set[uuid.UUID | None]:
    return {row.requested_by, row.staff_id}


def _view(session: Session, row: AdminRequest, *, decidable: bool) -> ChangeView:
    def name(compartment_id: uuid.UUID | None) -> str | None:
        found = session.get(Compartment, compartment_id) if compartment_id else None
        return found.name if found else None

    agency = session.get(Agency, row.agency_id) if row.agency_id else None
    subject = session.get(StaffUser, row.staff_id) if row.staff_id else None
    requester = session.get(StaffUser, row.requested_by) if row.requested_by else None
    return ChangeView(
        id=row.id,
        kind=row.kind,
        compartment=name(row.compartment_id) or "",
        previous=name(row.previous_compartment_id),
        agency=agency.slug if agency else None,
        agency_name=agency.name_en if agency else None,
        username=subject.username if subject else None,
        requested_by=requester.username if requester else "operator",
        requested_at=row.requested_at,
        decidable=decidable,
    )


def _pending(session: Session) -> list[AdminRequest]:
    query = (
        select(AdminRequest)
        .where(AdminRequest.status == RequestStatus.PENDING.value)
        .order_by(AdminRequest.requested_at, AdminRequest.id)
    )
    return list(session.scalars(query))


def pending_changes(session: Session) -> list[ChangeView]:
    """Every pending request, for the admin pages ("waiting for approval")."""
    views = []
    for row in _pending(session):
        someone = deciders(session, row.compartment_id, excluding=_excluded(row))
        views.append(_view(session, row, decidable=bool(someone)))
    return views


def decidable_changes(session: Session, principal: KeyHolder) -> list[ChangeView]:
    """Pending requests `principal` (a supervisor) may decide; nothing for anyone else."""
    if principal.role is not Role.SUPERVISOR:
        return []
    return [
        _view(session, row, decidable=True)
        for row in _pending(session)
        if principal.staff_id in deciders(session, row.compartment_id, excluding=_excluded(row))
    ]


def decide_change(
    session: Session, principal: KeyHolder, *, request_id: uuid.UUID, approve: bool
) -> None:
    """Approve (the change happens now, in this transaction) or reject a pending request.
    403 for a non-supervisor, the requester or the person being removed; 404 when `principal`
    may not decide it or it does not exist; 409 once decided or when the change no longer
    fits (nothing changes then and the request stays pending)."""
    if principal.role is not Role.SUPERVISOR:
        raise NotPermitted("only a supervisor decides change requests")
    row = lock_rows(session, select(AdminRequest).where(AdminRequest.id == request_id)).scalar()
    if row is None:
        raise NotFound("no such change request")
    if principal.staff_id in _excluded(row):
        raise NotPermitted("you cannot decide a request you made or that removes you")
    if principal.staff_id not in deciders(session, row.compartment_id, excluding=_excluded(row)):
        raise NotFound("no such change request")
    if row.status != RequestStatus.PENDING.value:
        raise Conflict("this request is already decided")
    if approve:
        _APPLY[RequestKind(row.kind)](session, row, principal.staff_id)
    elif row.kind == RequestKind.AGENCY_ADD.value:
        _drop_new_agency(session, row)
    row.status = (RequestStatus.APPROVED if approve else RequestStatus.REJECTED).value
    row.decided_by, row.decided_at = principal.staff_id, utcnow()
    session.flush()
    record(
        session,
        actor=principal.staff_id,
        action="admin_request.approved" if approve else "admin_request.rejected",
        objects=_objects(row),
        details={"kind": row.kind},
    )


def apply_route(
    session: Session, agency: Agency, target: uuid.UUID, *, actor: uuid.UUID | str
) -> None:
    """Send the agency's future tips to `target` (tips already in stay; moving them is a
    four-eyes reroute). Audited."""
    previous = agency.compartment_id
    agency.compartment_id = target
    record(
        session,
        actor=actor,
        action="agency.routed",
        objects={"agency": agency.id, "compartment": target, "previous": previous},
        details={"slug": agency.slug},
    )
    session.flush()


def _agency(session: Session, row: AdminRequest) -> Agency:
    agency = session.get(Agency, row.agency_id) if row.agency_id else None
    if agency is None:
        raise Conflict("the agency no longer exists: reject this request")
    return agency


def _approve_route(session: Session, row: AdminRequest, decider: uuid.UUID) -> None:
    agency = _agency(session, row)
    if agency.compartment_id != row.previous_compartment_id:
        raise Conflict("the agency's routing changed since this request: reject it")
    apply_route(session, agency, row.compartment_id, actor=decider)


def _approve_agency(session: Session, row: AdminRequest, decider: uuid.UUID) -> None:
    agency = _agency(session, row)
    if agency.compartment_id != row.compartment_id:  # the decider saw where it would feed
        raise Conflict("the agency's routing changed since this request: reject it")
    agency.active = True
    session.flush()


def _drop_new_agency(session: Session, row: AdminRequest) -> None:
    """A rejected new agency never received a tip (it was never active): delete it, so the
    slug is free again."""
    agency = session.get(Agency, row.agency_id) if row.agency_id else None
    row.agency_id = None
    session.flush()
    if agency is not None and not agency.active:
        session.delete(agency)
        session.flush()


def _approve_removal(session: Session, row: AdminRequest, decider: uuid.UUID) -> None:
    staff = session.get(StaffUser, row.staff_id) if row.staff_id else None
    compartment = session.get(Compartment, row.compartment_id)
    if staff is None or compartment is None:
        raise Conflict("the member or the compartment no longer exists: reject this request")
    check_oversight_keeps_a_supervisor(session, staff=staff, compartment_id=compartment.id)
    remove_member_with_access(session, compartment=compartment.name, staff=staff, actor=decider)


def _approve_recovery(session: Session, row: AdminRequest, decider: uuid.UUID) -> None:
    """Nothing changes yet: the operator carries it out once with the recovery key
    (service.staff.recovery), which checks the account again then."""
    staff = session.get(StaffUser, row.staff_id) if row.staff_id else None
    if staff is None or not staff.active:
        raise Conflict("the member no longer has an active account: reject this request")


def check_oversight_keeps_a_supervisor(
    session: Session, *, staff: StaffUser, compartment_id: uuid.UUID | None = None
) -> None:
    """409 if `staff` is the last approved active supervisor of oversight (and, given
    `compartment_id`, that is the compartment they leave): without one, nobody independent
    decides for compartments without a supervisor."""
    oversight = oversight_compartment(session)
    if oversight is None or compartment_id not in (None, oversight.id):
        return
    current = set(session.scalars(approved_supervisors(oversight.id)))
    if current == {staff.id}:
        raise Conflict(
            "this is the last active supervisor of oversight: have another supervisor approved "
            "in oversight first"
        )


_APPLY = {
    RequestKind.AGENCY_ROUTE: _approve_route,
    RequestKind.AGENCY_ADD: _approve_agency,
    RequestKind.SUPERVISOR_REMOVAL: _approve_removal,
    RequestKind.STAFF_RECOVERY: _approve_recovery,
}
