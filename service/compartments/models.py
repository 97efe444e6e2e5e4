"""A compartment is a group of staff who together form the audience of the tips routed to it."""

from __future__ import annotations

import uuid
from datetime import datetime

from sqlalchemy import Boolean, ForeignKey, Integer, String, Uuid
from sqlalchemy.orm import Mapped, mapped_column

from service.db import Base, UTCDateTime, new_id, utcnow

__all__ = ["Compartment", "Membership"]


class Compartment(Base):
    __tablename__ = "compartments"

    id: Mapped[uuid.UUID] = mapped_column(Uuid, primary_key=True, default=new_id)
    name: Mapped[str] = mapped_column(String(64), unique=True)
    # Independent oversight: receives tips naming leadership or left with no eligible reviewer.
    oversight: Mapped[bool] = mapped_column(Boolean, default=False)
    # Where tips about an "other/unknown" agency go (exactly one compartment after init).
    is_default: Mapped[bool] = mapped_column(Boolean, default=False)
    # Days a closed tip is kept before its purge is requested; None: PROBITY_RETENTION_DAYS.
    retention_days: Mapped[int | None] = mapped_column(Integer, default=None)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow)


class Membership(Base):
    __tablename__ = "compartment_members"

    compartment_id: Mapped[uuid.UUID] = mapped_column(
        ForeignKey("compartments.id", ondelete="CASCADE"), primary_key=True
    )
    staff_id: Mapped[uuid.UUID] = mapped_column(
        ForeignKey("staff_users.id", ondelete="CASCADE"), primary_key=True, index=True
    )
    created_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow)
    # Four-eyes: a membership requested by an admin counts (routing, key grants) only once a
    # supervisor approved it. approved_by is null for bootstrap and operator-made memberships.
    approved_at: Mapped[datetime | None] = mapped_column(UTCDateTime(), default=None)
    approved_by: Mapped[uuid.UUID | None] = mapped_column(
        ForeignKey("staff_users.id", ondelete="SET NULL"), default=None
    )
