"""Audit rows. The Merkle log itself arrives with the audit issue; reporter-caused events are
written here, in the same transaction as the change, and appended to the log later in shuffled
batches so their position cannot date them (design section 5)."""

from __future__ import annotations

import uuid
from datetime import date

from sqlalchemy import JSON, Date, String, Uuid
from sqlalchemy.orm import Mapped, mapped_column

from service.db import Base, new_id

__all__ = ["PendingAuditEntry"]


class PendingAuditEntry(Base):
    __tablename__ = "audit_pending"

    id: Mapped[uuid.UUID] = mapped_column(Uuid, primary_key=True, default=new_id)
    day: Mapped[date] = mapped_column(Date)
    actor: Mapped[str] = mapped_column(String(64))  # "reporter"
    action: Mapped[str] = mapped_column(String(64))
    # Object ids and allowlisted details only; never content or reporter data.
    details: Mapped[dict[str, str]] = mapped_column(JSON)
