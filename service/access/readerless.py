"""Tips nobody can read, and keeping their number at zero.

A conflict always takes effect, even on a tip's last reader. When that member registers the
conflict themselves while signed in, `hand_over` gives such tips to oversight with the member's own
keys in the same transaction. When nobody holds the keys (a conflict a second supervisor approved
for a colleague, or oversight has no eligible reader either), the tip is left with an empty
audience: `mark_readerless` audits it (`tip.readerless`, whose time is the "since" of the list),
and `readerless_tips` lists it, content-free, for oversight supervisors and the operator until
`probity access recover` (service.access.recovery) reroutes it.
"""

from __future__ import annotations

import uuid
from collections.abc import Collection
from dataclasses import dataclass
from datetime import date

from sqlalchemy import Select, func, select
from sqlalchemy.orm import Session

from service.access.envelopes import KeyHolder
from service.access.models import PendingAccessChange
from service.access.rewrite import move_tip
from service.audit.log import record
from service.audit.models import AuditEntry
from service.compartments.models import Compartment, Membership
from service.compartments.repository import oversight_compartment
from service.errors import Conflict, Forbidden
from service.staff.models import Role, StaffUser
from service.tips.models import Envelope, EnvelopeKind, Tip, TipAudience

__all__ = [
    "READERLESS_ACTION",
    "Backlog",
    "ReaderlessTip",
    "access_backlog",
    "hand_over",
    "is_oversight_supervisor",
    "mark_readerless",
    "readerless_for",
    "readerless_query",
    "readerless_tips",
]

READERLESS_ACTION = "tip.readerless"


@dataclass(frozen=True)
class Backlog:
    """Counts for operators (no ids): what waits, and what no supervisor can apply."""

    tips_waiting: int  # tips with pending changes
    without_supervisor: int  # of those, tips no supervisor in the audience can apply
    without_reader: int  # live tips nobody but the recovery key can open


@dataclass(frozen=True)
class ReaderlessTip:
    """What oversight and the operator see of a tip nobody can read: no content, no subjects."""

    tip_id: uuid.UUID
    compartment: str
    received_on: date
    since: date | None  # the day it lost its last reader (None: before this was audited)


def readerless_query() -> Select[Tip]:
    """Live tips (a staff envelope left) with no active member in their audience (an empty
    audience, or only deactivated accounts: those open nothing for anyone)."""
    active = (
        select(TipAudience.tip_id)
        .join(StaffUser, StaffUser.id == TipAudience.staff_id)
        .where(StaffUser.active.is_(True))
    )
    return (
        select(Tip)
        .join(Envelope, (Envelope.tip_id == Tip.id) & (Envelope.kind == EnvelopeKind.STAFF))
        .where(Tip.purged.is_(False), Tip.id.not_in(active))
    )


def access_backlog(session: Session, staff_id: uuid.UUID | None = None) -> Backlog:
    """Counts over every tip (the operator's CLI), or - given `staff_id` - over the tips in that
    staff member's audience only: global counts would let a web user watch which conflicts
    matched reports."""
    waiting = select(PendingAccessChange.tip_id).distinct()
    applicable = select(TipAudience.tip_id).where(TipAudience.identity_custodian).distinct()
    readerless = readerless_query().with_only_columns(func.count())
    if staff_id is not None:
        own = select(TipAudience.tip_id).where(TipAudience.staff_id == staff_id)
        waiting = waiting.where(PendingAccessChange.tip_id.in_(own))
        readerless = readerless.where(Tip.id.in_(own))
    stuck = waiting.where(PendingAccessChange.tip_id.not_in(applicable))
    return Backlog(
        tips_waiting=session.scalar(select(func.count()).select_from(waiting.subquery())) or 0,
        without_supervisor=session.scalar(select(func.count()).select_from(stuck.subquery())) or 0,
        without_reader=session.scalar(readerless) or 0,
    )


def readerless_tips(session: Session) -> list[ReaderlessTip]:
    """Every tip nobody can read, oldest loss first (the operator's `probity access status`)."""
    tips = readerless_query().with_only_columns(Tip.id, Compartment.name, Tip.received_on)
    rows = session.execute(tips.join(Compartment, Compartment.id == Tip.compartment_id)).all()
    since = _since(session, [row[0] for row in rows])
    listed = [ReaderlessTip(t, name, received, since.get(t)) for t, name, received in rows]
    return sorted(listed, key=lambda r: (r.since or date.min, r.received_on, str(r.tip_id)))


def _since(session: Session, tip_ids: Collection[uuid.UUID]) -> dict[uuid.UUID, date]:
    """The day of each tip's latest `tip.readerless` audit entry."""
    if not tip_ids:
        return {}
    rows = session.execute(
        select(AuditEntry.tip_id, func.max(AuditEntry.time))
        .where(AuditEntry.action == READERLESS_ACTION, AuditEntry.tip_id.in_(list(tip_ids)))
        .group_by(AuditEntry.tip_id)
    )
    return {tip_id: date.fromisoformat(time[:10]) for tip_id, time in rows if tip_id is not None}


def is_oversight_supervisor(session: Session, principal: KeyHolder) -> bool:
    oversight = oversight_compartment(session)
    if oversight is None or principal.role is not Role.SUPERVISOR:
        return False
    membership = session.get(Membership, (oversight.id, principal.staff_id))
    return membership is not None and membership.approved_at is not None


def readerless_for(session: Session, principal: KeyHolder) -> list[ReaderlessTip]:
    """The list for a supervisor of the oversight compartment (403 for anyone else)."""
    if not is_oversight_supervisor(session, principal):
        raise Forbidden("only oversight supervisors see reports without a reader")
    return readerless_tips(session)


def mark_readerless(
    session: Session, tip_ids: Collection[uuid.UUID], *, actor: uuid.UUID | str, cause: str
) -> None:
    """Audit each tip that has just lost its last reader (`cause` is a short code)."""
    for tip_id in sorted(tip_ids, key=str):
        record(
            session, actor=actor, action=READERLESS_ACTION, tip_id=tip_id, details={"cause": cause}
        )


def hand_over(
    session: Session, tip_ids: Collection[uuid.UUID], holder: KeyHolder
) -> set[uuid.UUID]:
    """Reroute tips `holder` is leaving as their last reader to oversight, with `holder`'s own
    keys; returns those moved. A tip oversight has no eligible reviewer for (or that `holder`
    cannot open) is skipped: the caller leaves it reader-less."""
    oversight = oversight_compartment(session)
    if oversight is None:
        return set()
    moved: set[uuid.UUID] = set()
    for tip_id in sorted(tip_ids, key=str):
        tip = session.get(Tip, tip_id)
        if tip is None:
            continue
        try:  # move_tip decides and decrypts before it writes anything
            move_tip(session, tip, oversight, holder.identity, actor=holder.staff_id, handover=True)
        except Conflict:
            continue
        moved.add(tip_id)
    return moved
