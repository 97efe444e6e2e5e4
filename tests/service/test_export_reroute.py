"""An export approved (or asked for) by a tip's old audience does not outlive a reroute: the new
audience never agreed to send the tip to that recipient, and the operator's `probity export`
with the recovery key would otherwise still honour it. Both backends."""

from __future__ import annotations

from sqlalchemy import Engine, select
from sqlalchemy.orm import Session

from service.access.rewrite import move_tip
from service.approvals import service as approvals
from service.approvals.models import Approval, ApprovalStatus
from service.audit.models import AuditEntry
from service.compartments.models import Compartment
from service.config import Settings
from service.db import utcnow
from service.export.repository import matching_approvals
from service.staff.models import Role
from service.tips.models import Tip
from tests.factories import REFERRAL_RECIPIENT, Border, in_tx, principal, submit


def test_a_reroute_cancels_the_old_audience_s_export_requests(
    engine: Engine, settings: Settings, border: Border
) -> None:
    tip_id, _ = submit(engine, settings)
    ana = principal(border.reviewer_us)
    sam = principal(border.supervisor_us, Role.SUPERVISOR)

    def ask() -> Approval:
        return in_tx(
            engine,
            lambda s: approvals.request(
                s, ana, tip_id, kind="export", recipient=REFERRAL_RECIPIENT, now=utcnow()
            ),
        )

    approved = ask()
    in_tx(engine, lambda s: approvals.decide(s, sam, approved.id, approve=True, now=utcnow()))
    pending = ask()
    assert [a.id for a in in_tx(engine, lambda s: matching_approvals(s, tip_id))] == [approved.id]

    def reroute(session: Session) -> None:
        tip = session.get_one(Tip, tip_id)
        oversight = session.scalars(select(Compartment).where(Compartment.oversight)).one()
        move_tip(session, tip, oversight, border.supervisor_us.identity, actor=sam.staff_id)

    in_tx(engine, reroute)
    assert in_tx(engine, lambda s: matching_approvals(s, tip_id)) == []
    statuses = in_tx(
        engine,
        lambda s: {
            a.id: a.status for a in s.scalars(select(Approval).where(Approval.tip_id == tip_id))
        },
    )
    assert statuses == {
        approved.id: ApprovalStatus.CANCELLED.value,
        pending.id: ApprovalStatus.CANCELLED.value,
    }
    cancelled = in_tx(
        engine,
        lambda s: s.scalars(
            select(AuditEntry.action).where(AuditEntry.action == "approval.cancelled")
        ).all(),
    )
    assert len(cancelled) == 2
