"""Record a reporter-caused audit event: day only, in the caller's transaction."""

from __future__ import annotations

import uuid
from datetime import date
from typing import cast

from sqlalchemy import Table, insert
from sqlalchemy.orm import Session

from service.audit.models import PendingAuditEntry

__all__ = ["record_reporter_event", "record_reporter_events"]


def record_reporter_event(
    session: Session, action: str, *, day: date, tip_id: uuid.UUID, **ids: uuid.UUID
) -> None:
    details = {"tip_id": str(tip_id), **{k: str(v) for k, v in ids.items()}}
    session.add(PendingAuditEntry(day=day, actor="reporter", action=action, details=details))


# A Core insert of the table: the ORM bulk path costs more than the statement (intake hot path).
_INSERT = insert(cast(Table, PendingAuditEntry.__table__))


def record_reporter_events(
    session: Session,
    events: list[tuple[str, dict[str, uuid.UUID]]],
    *,
    day: date,
    tip_id: uuid.UUID,
) -> None:
    """Several events about one tip in one statement (the intake hot path)."""
    rows = [
        {
            "id": uuid.uuid4(),
            "day": day,
            "actor": "reporter",
            "action": action,
            "details": {"tip_id": str(tip_id), **{k: str(v) for k, v in ids.items()}},
        }
        for action, ids in events
    ]
    session.execute(_INSERT, rows)
