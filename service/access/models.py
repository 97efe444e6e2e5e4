"""Pending envelope rewrites, granted identity reveals, and admins' change requests.

Removing access takes effect in the query at once (TipAudience rows go); the envelope header
still lists the removed member until a key holder rewrites it, which needs the file key. Granting
access cannot happen without a key holder at all. Both wait here as pending changes.

`AdminRequest`: an instance-level change an admin (or the operator) asked for that would change
who reads future tips - routing an agency elsewhere, adding an agency, removing a supervisor. It
takes effect only once a supervisor decides it (service.access.changes).
"""

from __future__ import annotations

import uuid
from datetime import datetime
from enum import StrEnum

from sqlalchemy import ForeignKey, LargeBinary, String, UniqueConstraint, Uuid
from sqlalchemy.orm import Mapped, mapped_column

from service.db import Base, UTCDateTime, new_id, utcnow

__all__ = [
    "AdminRequest",
    "ChangeOp",
    "ChangeReason",
    "IdentityGrant",
    "PendingAccessChange",
    "RequestKind",
    "RequestStatus",
]
__all__ = ["ChangeOp", "ChangeReason", "ConflictRequest", "IdentityGrant", "PendingAccessChange"]


class ChangeOp(StrEnum):
    ADD = "add"  # insert into the audience and the envelopes when applied
    REMOVE = "remove"  # already out of the audience; the envelopes still list them


class ChangeReason(StrEnum):
    MEMBER_ADDED = "member_added"
    MEMBER_REMOVED = "member_removed"
    CONFLICT = "conflict"
    REROUTE = "reroute"  # reserved: a reroute rewrites at once, so none is queued today


class PendingAccessChange(Base):
    __tablename__ = "pending_access_changes"

    id: Mapped[uuid.UUID] = mapped_column(Uuid, primary_key=True, default=new_id)
    tip_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("tips.id", ondelete="CASCADE"), index=True)
    staff_id: Mapped[uuid.UUID] = mapped_column(
        ForeignKey("staff_users.id", ondelete="CASCADE"), index=True
    )
    op: Mapped[str] = mapped_column(String(8))
    reason: Mapped[str] = mapped_column(String(16))
    created_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow)


class IdentityGrant(Base):
    """An approved reveal: the requester is a recipient of the identity envelope for as long as
    they stay in the tip's audience (every rewrite of that envelope keeps them)."""

    __tablename__ = "identity_grants"

    tip_id: Mapped[uuid.UUID] = mapped_column(
        ForeignKey("tips.id", ondelete="CASCADE"), primary_key=True
    )
    staff_id: Mapped[uuid.UUID] = mapped_column(
        ForeignKey("staff_users.id", ondelete="CASCADE"), primary_key=True, index=True
    )
    approved_by: Mapped[uuid.UUID | None] = mapped_column(
        ForeignKey("staff_users.id", ondelete="SET NULL"), default=None
    )
    created_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow)


class RequestKind(StrEnum):
    AGENCY_ADD = "agency_add"  # a new agency (inactive until approved) routing to `compartment`
    AGENCY_ROUTE = "agency_route"  # `agency` from `previous_compartment` to `compartment`
    SUPERVISOR_REMOVAL = "supervisor_removal"  # `staff` leaves `compartment`
    # `staff` gets a new identity with the recovery key (`probity staff recover`); `compartment`
    # is oversight, whose supervisors decide. Approved, it waits for the operator's one run.
    STAFF_RECOVERY = "staff_recovery"


class RequestStatus(StrEnum):
    PENDING = "pending"
    APPROVED = "approved"
    REJECTED = "rejected"
    USED = "used"  # an approved staff recovery that was carried out (single use)


class AdminRequest(Base):
    __tablename__ = "admin_requests"

    id: Mapped[uuid.UUID] = mapped_column(Uuid, primary_key=True, default=new_id)
    kind: Mapped[str] = mapped_column(String(24))
    status: Mapped[str] = mapped_column(String(12), default=RequestStatus.PENDING.value, index=True)
    # The compartment concerned: its supervisors (or oversight's) decide.
    compartment_id: Mapped[uuid.UUID] = mapped_column(
        ForeignKey("compartments.id", ondelete="CASCADE"), index=True
    )
    previous_compartment_id: Mapped[uuid.UUID | None] = mapped_column(
        ForeignKey("compartments.id", ondelete="SET NULL"), default=None
    )
    agency_id: Mapped[uuid.UUID | None] = mapped_column(
        ForeignKey("agencies.id", ondelete="SET NULL"), default=None
    )
    staff_id: Mapped[uuid.UUID | None] = mapped_column(
        ForeignKey("staff_users.id", ondelete="CASCADE"), default=None
    )
    # Null: the operator at the server's shell (`probity ...`).
    requested_by: Mapped[uuid.UUID | None] = mapped_column(
        ForeignKey("staff_users.id", ondelete="SET NULL"), default=None
    )
    requested_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow)
    decided_by: Mapped[uuid.UUID | None] = mapped_column(
        ForeignKey("staff_users.id", ondelete="SET NULL"), default=None
    )
    decided_at: Mapped[datetime | None] = mapped_column(UTCDateTime(), default=None)


class ConflictRequest(Base):
    """A conflict registered for someone else, waiting for a second supervisor: it changes no
    access until approved (service.access.conflicts). The value is a blind index, as in
    `staff_conflicts`; `requested_by` None means the operator's CLI."""

    __tablename__ = "conflict_requests"
    __table_args__ = (UniqueConstraint("staff_id", "kind", "value"),)

    id: Mapped[uuid.UUID] = mapped_column(Uuid, primary_key=True, default=new_id)
    staff_id: Mapped[uuid.UUID] = mapped_column(
        ForeignKey("staff_users.id", ondelete="CASCADE"), index=True
    )
    kind: Mapped[str] = mapped_column(String(8))  # name, badge or unit
    value: Mapped[bytes] = mapped_column(LargeBinary(32))
    # The value's token indexes (32 bytes each, concatenated): the clear value is gone by approval.
    tokens: Mapped[bytes] = mapped_column(LargeBinary)
    requested_by: Mapped[uuid.UUID | None] = mapped_column(
        ForeignKey("staff_users.id", ondelete="SET NULL"), default=None
    )
    created_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow)
