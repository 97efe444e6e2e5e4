"""The conflicts register's four eyes: nobody takes a colleague off a tip alone (issue 10).

A member's own conflict, registered while signed in, takes effect at once and hands their
last-reader tips to oversight with their own keys (service.access.service.apply_conflict). A
conflict registered for someone else - by a supervisor of one of their compartments over HTTP, or
by the operator's CLI - is stored as a pending request (the blind index only) and changes nothing
until a different supervisor approves it: a supervisor of a compartment the member belongs to, or
of oversight; never the registrar, never the member. The registrar's answer is the same whether
or not the value matches a tip, was requested before or is already registered. Every step is
audited (`conflict.requested`, `conflict.approved`, `conflict.rejected`, `conflict.registered`).
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import ColumnElement, and_, delete, exists, or_, select, true
from sqlalchemy.orm import Session, aliased

from crypto.blind import INDEX_SIZE
from service.access.conflict_values import ConflictValue, conflict_value
from service.access.envelopes import KeyHolder
from service.access.memberships import check_conflict_registrar
from service.access.models import ConflictRequest
from service.access.readerless import is_oversight_supervisor
from service.access.service import apply_conflict
from service.audit.log import record
from service.compartments.models import Membership
from service.db import lock_for_write, lock_rows
from service.errors import NotFound, NotPermitted
from service.staff.models import Role, StaffConflict, StaffUser
from service.staff.repository import get_staff

__all__ = [
    "PendingConflict",
    "decide_conflict",
    "pending_conflicts",
    "request_conflict",
    "submit_conflict",
]


@dataclass(frozen=True)
class PendingConflict:
    """What a deciding supervisor sees: whose, which kind, who asked, when. Never the value."""

    id: uuid.UUID
    staff_id: uuid.UUID
    username: str
    kind: str
    requested_by: str | None  # a username; None: the operator's CLI
    requested_at: datetime


def submit_conflict(
    session: Session, registrar: KeyHolder, *, username: str, kind: str, value: str, key: bytes
) -> bool:
    """A conflict over HTTP. True: the registrar's own, in force now (with the hand-over);
    False: for someone else, pending a second supervisor. 422 bad input, 404 unknown member,
    403 no standing; nothing is written on any of them."""
    conflict = conflict_value(kind, value, key)
    staff = get_staff(session, username)
    check_conflict_registrar(
        session, registrar_id=registrar.staff_id, role=registrar.role, staff=staff
    )
    if staff.id == registrar.staff_id:
        apply_conflict(session, staff=staff, conflict=conflict, actor=staff.id, holder=registrar)
        # A request for the same conflict has nothing left to decide.
        same = _same(staff.id, conflict.kind, conflict.whole)
        session.execute(delete(ConflictRequest).where(same))
        return True
    request_conflict(session, staff=staff, conflict=conflict, requested_by=registrar.staff_id)
    return False


def _same(staff_id: uuid.UUID, kind: str, index: bytes) -> ColumnElement[bool]:
    return and_(
        ConflictRequest.staff_id == staff_id,
        ConflictRequest.kind == kind,
        ConflictRequest.value == index,
    )


def request_conflict(
    session: Session,
    *,
    staff: StaffUser,
    conflict: ConflictValue,
    requested_by: uuid.UUID | None,
) -> None:
    """File the pending request; a duplicate (or an already registered conflict) adds nothing."""
    lock_for_write(session)
    kind, index = conflict.kind, conflict.whole
    registered = session.get(StaffConflict, (staff.id, kind, index)) is not None
    duplicate = session.scalar(select(ConflictRequest.id).where(_same(staff.id, kind, index)))
    if registered or duplicate is not None:
        return
    request = ConflictRequest(
        staff_id=staff.id,
        kind=kind,
        value=index,
        tokens=b"".join(conflict.tokens),
        requested_by=requested_by,
    )
    session.add(request)
    session.flush()
    record(
        session,
        actor=requested_by or "system",
        action="conflict.requested",
        objects={"staff": staff.id, "request": request.id},
        details={"kind": kind},
    )


def _decidable(session: Session, principal: KeyHolder) -> ColumnElement[bool]:
    """Requests `principal` may decide: about a member of one of their compartments (any, if
    they supervise oversight), never about themselves nor filed by them."""
    if is_oversight_supervisor(session, principal):
        standing: ColumnElement[bool] = true()
    else:
        mine = select(Membership.compartment_id).where(
            Membership.staff_id == principal.staff_id, Membership.approved_at.is_not(None)
        )
        standing = exists().where(
            Membership.staff_id == ConflictRequest.staff_id, Membership.compartment_id.in_(mine)
        )
    return and_(
        ConflictRequest.staff_id != principal.staff_id,
        or_(
            ConflictRequest.requested_by.is_(None),
            ConflictRequest.requested_by != principal.staff_id,
        ),
        standing,
    )


def pending_conflicts(session: Session, principal: KeyHolder) -> list[PendingConflict]:
    """Requests `principal` (a supervisor) may decide, oldest first; nothing for anyone else."""
    if principal.role is not Role.SUPERVISOR:
        return []
    member, registrar = aliased(StaffUser), aliased(StaffUser)
    rows = session.execute(
        select(ConflictRequest, member.username, registrar.username)
        .join(member, member.id == ConflictRequest.staff_id)
        .outerjoin(registrar, registrar.id == ConflictRequest.requested_by)
        .where(_decidable(session, principal))
        .order_by(ConflictRequest.created_at, member.username, ConflictRequest.kind)
    )
    return [
        PendingConflict(r.id, r.staff_id, username, r.kind, by, r.created_at)
        for r, username, by in rows
    ]


def decide_conflict(
    session: Session, principal: KeyHolder, *, request_id: uuid.UUID, approve: bool
) -> None:
    """Approve (the conflict takes effect now, as in `apply_conflict` without a hand-over: the
    approver does not hold the member's keys) or reject (the request is deleted). 403 for a
    non-supervisor, the registrar or the member; 404 when missing, decided, or not theirs."""
    if principal.role is not Role.SUPERVISOR:
        raise NotPermitted("only a supervisor decides conflict requests")
    found = select(ConflictRequest).where(ConflictRequest.id == request_id)
    request = lock_rows(session, found).scalar()
    if request is None:
        raise NotFound("no such conflict request")
    if request.requested_by == principal.staff_id:
        raise NotPermitted("you cannot approve your own conflict request")
    if request.staff_id == principal.staff_id:
        raise NotPermitted("you cannot decide a conflict request about yourself")
    allowed = session.scalar(
        select(ConflictRequest.id).where(
            ConflictRequest.id == request_id, _decidable(session, principal)
        )
    )
    staff = session.get(StaffUser, request.staff_id)
    if allowed is None or staff is None:
        raise NotFound("no such conflict request")
    kind = request.kind
    # Token indexes are INDEX_SIZE bytes each (not the whole value's 32).
    size, raw = INDEX_SIZE, request.tokens
    tokens = tuple(raw[i : i + size] for i in range(0, len(raw), size))
    conflict = ConflictValue(kind=kind, whole=request.value, tokens=tokens)
    session.delete(request)
    session.flush()
    record(
        session,
        actor=principal.staff_id,
        action="conflict.approved" if approve else "conflict.rejected",
        objects={"staff": staff.id, "request": request_id},
        details={"kind": kind},
    )
    if approve:
        apply_conflict(session, staff=staff, conflict=conflict, actor=principal.staff_id)
