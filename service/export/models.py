"""One row per used export approval: the approval can be used once (the primary key says so, even
under two concurrent downloads), and the row says who produced which manifest and when."""

from __future__ import annotations

import uuid
from datetime import datetime

from sqlalchemy import ForeignKey, Integer, String
from sqlalchemy.orm import Mapped, mapped_column

from service.db import Base, UTCDateTime

__all__ = ["TipExport"]


class TipExport(Base):
    __tablename__ = "tip_exports"

    approval_id: Mapped[uuid.UUID] = mapped_column(
        ForeignKey("approvals.id", ondelete="CASCADE"), primary_key=True
    )
    tip_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("tips.id", ondelete="CASCADE"), index=True)
    # None: the operator, with the offline recovery key (`probity export`).
    exported_by: Mapped[uuid.UUID | None] = mapped_column(
        ForeignKey("staff_users.id", ondelete="SET NULL")
    )
    exported_at: Mapped[datetime] = mapped_column(UTCDateTime())
    manifest_sha256: Mapped[str] = mapped_column(String(64))
    audit_index: Mapped[int] = mapped_column(Integer)
