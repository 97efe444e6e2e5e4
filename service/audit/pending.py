"""Record a reporter-caused audit event: day only, in the caller's transaction."""

from __future__ import annotations

import uuid
from datetime import date

from sqlalchemy.orm import Session

from service.audit.models import PendingAuditEntry

__all__ = ["record_reporter_event"]


def record_reporter_event(
    session: Session, action: str, *, day: date, tip_id: uuid.UUID, **ids: uuid.UUID
) -> None:
    details = {"tip_id": str(tip_id), **{k: str(v) for k, v in ids.items()}}
    session.add(PendingAuditEntry(day=day, actor="reporter", action=action, details=details))
