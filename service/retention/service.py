"""Retention rules: when a closed tip's retention ends, what supervisors are warned of, and each
compartment's retention period.

A closed tip's retention ends `retention_days` (the compartment's, or PROBITY_RETENTION_DAYS)
after the day it was closed. Its supervisors see it listed, content-free, from
PROBITY_RETENTION_WARNING_DAYS before; once it ended the worker files a purge request by "system"
(service.retention.sweep), which a supervisor approves as any other four-eyes request.
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from datetime import date, datetime, timedelta

from sqlalchemy import select
from sqlalchemy.orm import Session

from service.approvals.models import Approval, ApprovalKind, ApprovalStatus
from service.audit.log import record
from service.compartments.models import Compartment, Membership
from service.compartments.repository import get_compartment
from service.config import Settings
from service.db import lock_for_write
from service.errors import Forbidden, InvalidInput
from service.staff.models import Role
from service.staff.sessions import Principal
from service.tips.models import Status, Tip

__all__ = [
    "MAX_RETENTION_DAYS",
    "ClosedTip",
    "ExpiringTip",
    "closed_tips",
    "expiring_tips",
    "expiry_of",
    "retention_of",
    "set_retention",
]

MAX_RETENTION_DAYS = 36_500


@dataclass(frozen=True)
class ClosedTip:
    tip_id: uuid.UUID
    compartment: str
    closed_on: date
    expires_on: date
    legal_hold: bool
    # A contested closure: never purged by the sweep's "system" request, which one supervisor
    # alone could approve (also in oversight, right after the reroute); a person asks and
    # another approves (service.tips.purge.contest_keeps blocks even that outside oversight).
    contested: bool = False

    @property
    def kept(self) -> bool:
        """Kept past its retention: no purge is requested while this holds."""
        return self.legal_hold or self.contested


@dataclass(frozen=True)
class ExpiringTip:
    """What a supervisor is warned of: never content."""

    tip_id: uuid.UUID
    compartment: str
    closed_on: date
    expires_on: date
    legal_hold: bool
    purge_requested: bool  # a purge request is waiting or approved


def expiry_of(closed: datetime, days: int) -> date:
    return closed.date() + timedelta(days=days)


def retention_of(compartment: Compartment, settings: Settings) -> int:
    return compartment.retention_days or settings.retention_days


def closed_tips(
    session: Session, settings: Settings, *, compartments: list[uuid.UUID] | None = None
) -> list[ClosedTip]:
    """Closed tips not purged yet, with the day their retention ends."""
    query = (
        select(Tip.id, Tip.closed_at, Tip.legal_hold, Tip.contested_on, Compartment)
        .join(Compartment, Compartment.id == Tip.compartment_id)
        .where(Tip.status == Status.CLOSED.value, Tip.purged.is_(False))
        .where(Tip.closed_at.is_not(None))
        .order_by(Tip.closed_at, Tip.id)
    )
    if compartments is not None:
        query = query.where(Tip.compartment_id.in_(compartments))
    found = []
    for tip_id, closed_at, hold, contested_on, compartment in session.execute(query):
        if closed_at is None:  # excluded by the query; for the type checker
            continue
        expires = expiry_of(closed_at, retention_of(compartment, settings))
        contested = contested_on is not None
        closed = closed_at.date()
        found.append(ClosedTip(tip_id, compartment.name, closed, expires, hold, contested))
    return found


def _supervised(session: Session, principal: Principal) -> list[uuid.UUID]:
    if principal.role is not Role.SUPERVISOR:
        raise Forbidden("only supervisors see retention warnings")
    return list(
        session.scalars(
            select(Membership.compartment_id).where(
                Membership.staff_id == principal.staff_id, Membership.approved_at.is_not(None)
            )
        )
    )


def expiring_tips(
    session: Session, principal: Principal, settings: Settings, *, today: date
) -> list[ExpiringTip]:
    """Tips of `principal`'s compartments whose retention ends within the warning period (or
    has ended), soonest first. Supervisors only (403)."""
    horizon = today + timedelta(days=settings.retention_warning_days)
    tips = [
        t
        for t in closed_tips(session, settings, compartments=_supervised(session, principal))
        if t.expires_on <= horizon
    ]
    requested = set(
        session.scalars(
            select(Approval.tip_id)
            .join(Tip, Tip.id == Approval.tip_id)
            .where(
                Tip.purged.is_(False),
                Approval.kind == ApprovalKind.PURGE.value,
                Approval.status.in_([ApprovalStatus.PENDING.value, ApprovalStatus.APPROVED.value]),
            )
        )
    )
    tips.sort(key=lambda t: (t.expires_on, t.tip_id))
    return [
        ExpiringTip(
            t.tip_id, t.compartment, t.closed_on, t.expires_on, t.legal_hold, t.tip_id in requested
        )
        for t in tips
    ]


def set_retention(
    session: Session, actor: uuid.UUID | str, name: str, days: int | None
) -> Compartment:
    """Set (or with None, reset to the default) a compartment's retention, audited
    `compartment.retention_set`. The worker's next sweep re-buckets its closed tips."""
    if days is not None and not 1 <= days <= MAX_RETENTION_DAYS:
        raise InvalidInput(f"days: 1-{MAX_RETENTION_DAYS}", fields={"days": "range"})
    lock_for_write(session)
    compartment = get_compartment(session, name)
    compartment.retention_days = days
    session.flush()
    record(
        session,
        actor=actor,
        action="compartment.retention_set",
        objects={"compartment": compartment.id},
        details={"days": days},
    )
    return compartment
