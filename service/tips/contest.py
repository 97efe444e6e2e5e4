"""A reporter contests their tip's closure (issue 10: no one person buries a tip).

Once per tip, only while it is closed, with an optional message that joins the conversation
(encrypted to the conversation key like every reporter message). The tip is marked with the date
only (reporter-caused), and the audit event goes through the pending, shuffled path
(service.audit.pending) like every reporter event. Oversight supervisors then see the tip,
content-free, and can ask for a reroute to oversight (service.approvals.contested).

Imports service.* only.
"""

from __future__ import annotations

from datetime import date

from sqlalchemy.orm import Session

from service.audit.pending import record_reporter_event
from service.errors import AlreadyContested, NotClosed, NotFound
from service.tips.conversation import add_reporter_message
from service.tips.models import Status
from service.tips.reporter_auth import ReporterSession, reporter_tip

__all__ = ["contest_closure"]


def contest_closure(
    session: Session, reporter: ReporterSession, message: str | None, *, today: date
) -> None:
    """Mark the reporter's closed tip contested (409 when open or already contested); a
    non-blank `message` is checked and stored first, in the same transaction."""
    tip = reporter_tip(session, reporter, lock=True)  # 401 once the tip's keys rotated
    if tip.purged:
        raise NotFound("no such report")
    if tip.status != Status.CLOSED:
        raise NotClosed("only a closed report can be contested")
    if tip.contested_on is not None:
        raise AlreadyContested("this closure was already contested")
    if message is not None and message.strip():
        add_reporter_message(session, reporter, message, today=today)
    tip.contested_on = today
    tip.reporter_active_on = today
    session.flush()
    record_reporter_event(session, "tip.contested", day=today, tip_id=tip.id)
