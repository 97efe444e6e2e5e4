"""Approval requests. The payload holds codes and ids only (findings, a target compartment);
free text typed by staff (why they ask, why they decide) is encrypted to the tip's case key."""

from __future__ import annotations

import uuid
from datetime import datetime
from enum import StrEnum
from typing import Any

from sqlalchemy import JSON, ForeignKey, String, Uuid
from sqlalchemy.orm import Mapped, mapped_column

from service.db import Base, UTCDateTime, new_id, utcnow

__all__ = ["Approval", "ApprovalKind", "ApprovalStatus"]


class ApprovalKind(StrEnum):
    CLOSE_WITH_FINDINGS = "close_with_findings"
    # Closing from triage with a reason (referral, or a tip that was already investigated).
    CLOSE_WITH_REASON = "close_with_reason"
    EXPORT = "export"
    IDENTITY_REVEAL = "identity_reveal"
    PURGE = "purge"
    LIFT_LEGAL_HOLD = "lift_legal_hold"
    REROUTE = "reroute"


class ApprovalStatus(StrEnum):
    PENDING = "pending"
    APPROVED = "approved"
    REJECTED = "rejected"
    CANCELLED = "cancelled"


class Approval(Base):
    __tablename__ = "approvals"

    id: Mapped[uuid.UUID] = mapped_column(Uuid, primary_key=True, default=new_id)
    tip_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("tips.id", ondelete="CASCADE"), index=True)
    kind: Mapped[str] = mapped_column(String(24))
    requested_by: Mapped[uuid.UUID | None] = mapped_column(
        ForeignKey("staff_users.id", ondelete="SET NULL")
    )
    requested_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow)
    # Codes and ids only, e.g. {"findings": {"bribery": "sustained"}} or {"compartment": "..."}.
    payload: Mapped[dict[str, Any]] = mapped_column(JSON, default=dict)
    # The requester's reason, encrypted to the tip's case key.
    reason_blob_id: Mapped[uuid.UUID | None] = mapped_column(
        ForeignKey("blobs.id", ondelete="SET NULL"), default=None
    )
    status: Mapped[str] = mapped_column(
        String(16), default=ApprovalStatus.PENDING.value, index=True
    )
    decided_by: Mapped[uuid.UUID | None] = mapped_column(
        ForeignKey("staff_users.id", ondelete="SET NULL"), default=None
    )
    decided_at: Mapped[datetime | None] = mapped_column(UTCDateTime(), default=None)
    decision_reason_blob_id: Mapped[uuid.UUID | None] = mapped_column(
        ForeignKey("blobs.id", ondelete="SET NULL"), default=None
    )
