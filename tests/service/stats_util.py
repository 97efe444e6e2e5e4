"""A small, dated history of tips for the statistics tests, built through the real services:
intake (`begin_tip` with the day of receipt), the workflow table (`transition` with the time of
each step), the four-eyes approval every closure needs, and a reporter contesting one closure.
No column is set by hand.

Today is Wednesday 2026-11-25 (ISO week 2026-W48); with weeks=4 the series covers W45-W48.
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass, field
from datetime import UTC, date, datetime

from sqlalchemy import Engine

from service.approvals.service import decide
from service.config import Settings
from service.db import make_session_factory, session_scope
from service.instance.context import load_context
from service.staff.models import Role
from service.tips.contest import contest_closure
from service.tips.reporter_auth import login_with_receipt, open_token
from service.tips.workflow import transition
from tests.factories import Border, StaffHandle, intake, principal

TODAY = date(2026, 11, 25)
NARRATIVE = "Sergeant Ramirez takes cash to let trucks pass at the Ysleta crossing."
SUBJECT = "Juan Ramírez"


def at(day: str) -> datetime:
    return datetime.fromisoformat(day).replace(hour=10, tzinfo=UTC)


@dataclass
class History:
    engine: Engine
    settings: Settings
    border: Border
    receipts: list[str]
    receipt_of: dict[uuid.UUID, str] = field(default_factory=dict)

    def tip(self, received: str, *, agency: str = "el-paso-pd") -> uuid.UUID:
        day = date.fromisoformat(received)
        tip_id, receipt = intake(self.engine, self.settings, {"agency": agency}, received_on=day)
        self.receipts.append(receipt)
        self.receipt_of[tip_id] = receipt
        return tip_id

    def move(self, tip_id: uuid.UUID, who: StaffHandle, to: str, when: str, **kw: object) -> None:
        factory = make_session_factory(self.engine)
        with session_scope(factory) as session:
            transition(session, principal(who, Role.REVIEWER), tip_id, to=to, now=at(when), **kw)  # type: ignore[arg-type]

    def close(
        self, tip_id: uuid.UUID, when: str, *, reason: str | None = None, **findings: str
    ) -> None:
        """Every closure is four-eyes: ana asks, sam approves (the closing reviewer is ana)."""
        factory = make_session_factory(self.engine)
        ana = principal(self.border.reviewer_us, Role.REVIEWER)
        with session_scope(factory) as session:
            result = transition(
                session,
                ana,
                tip_id,
                to="closed",
                reason=reason,
                findings=findings or None,
                now=at(when),
            )
        assert result.approval_id is not None
        sam = principal(self.border.supervisor_us, Role.SUPERVISOR)
        with session_scope(factory) as session:
            decide(session, sam, result.approval_id, approve=True, now=at(when))

    def contest(self, tip_id: uuid.UUID, when: str) -> None:
        """The reporter signs in with the receipt and contests the closure (no message). A real
        session: the tip checks the session's conversation key (keys rotate)."""
        with session_scope(make_session_factory(self.engine)) as session:
            ctx = load_context(session, self.settings)
            signed_in = login_with_receipt(session, ctx, self.receipt_of[tip_id], now=at(when))
            assert signed_in.token is not None
            reporter = open_token(ctx, signed_in.token, now=at(when))
            contest_closure(session, reporter, None, today=date.fromisoformat(when))


def build_history(engine: Engine, settings: Settings, border: Border) -> History:
    """us: 7 tips, mx: 2 (see the expectations in tests/service/test_audit_stats.py)."""
    h = History(engine, settings, border, [])
    ana, luis = border.reviewer_us, border.reviewer_mx
    t1 = h.tip("2026-11-02")  # W45, acknowledged after 3 days, closed with findings
    h.move(t1, ana, "triage", "2026-11-05")
    h.move(t1, ana, "investigating", "2026-11-06")
    h.move(t1, ana, "decision_review", "2026-11-18")
    h.close(t1, "2026-11-20", bribery="sustained", leaking="not_sustained")
    t2 = h.tip("2026-11-03")  # W45, acknowledged after 9 days (late), closed as a duplicate
    h.move(t2, ana, "triage", "2026-11-12")
    h.close(t2, "2026-11-13", reason="duplicate")
    t3 = h.tip("2026-11-10")  # W46, acknowledged after 1 day, still in triage
    h.move(t3, ana, "triage", "2026-11-11")
    h.tip("2026-11-10")  # W46, never acknowledged: overdue
    h.tip("2026-11-24")  # W48, not acknowledged yet, not yet due
    t6 = h.tip("2026-08-01")  # before the window; acknowledged after 2 days; feedback overdue
    h.move(t6, ana, "triage", "2026-08-03")
    h.move(t6, ana, "investigating", "2026-08-04")
    t7 = h.tip("2026-07-01")  # acknowledged after 1 day; closed as spam after the 3 months
    h.move(t7, ana, "triage", "2026-07-02")
    h.close(t7, "2026-10-15", reason="spam")
    h.contest(t7, "2026-10-20")  # the reporter contests the closure
    m1 = h.tip("2026-11-17", agency="tijuana-municipal")  # W47, acknowledged on day 7: on time
    h.move(m1, luis, "triage", "2026-11-24")
    h.tip("2026-11-17", agency="tijuana-municipal")  # W47, 8 days unacknowledged: overdue
    return h
