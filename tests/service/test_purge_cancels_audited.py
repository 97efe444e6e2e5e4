"""Attack (review of issue 13): a request waiting on a tip (here a reroute) disappears when the
worker purges the tip: it was set to cancelled with no audit entry, so the log showed a request
filed and never decided. Every change of a request's state is an audit event in the same
transaction: the purge's cancellations are logged `approval.cancelled` (by system)."""

from __future__ import annotations

import pytest
from sqlalchemy import Engine, select

from service.approvals import service as approvals
from service.approvals.models import Approval, ApprovalStatus
from service.audit.models import AuditEntry
from service.config import Settings
from service.db import make_session_factory, utcnow
from service.retention.sweep import purge_job
from tests.factories import in_tx, submit
from tests.service.workflow_util import Cast, actions, cast


@pytest.fixture
def crew(engine: Engine, settings: Settings) -> Cast:
    return cast(engine, settings)


def test_requests_cancelled_by_a_purge_are_audited(
    engine: Engine, settings: Settings, crew: Cast
) -> None:
    tip_id, _ = submit(engine, settings)
    reroute = in_tx(
        engine,
        lambda s: approvals.request(
            s, crew.ana, tip_id, kind="reroute", compartment="mx", now=utcnow()
        ),
    )
    purge = in_tx(
        engine, lambda s: approvals.request(s, crew.ana, tip_id, kind="purge", now=utcnow())
    )
    in_tx(engine, lambda s: approvals.decide(s, crew.sam, purge.id, approve=True, now=utcnow()))
    assert purge_job(make_session_factory(engine), settings) == 1

    with make_session_factory(engine)() as session:
        cancelled = session.get_one(Approval, reroute.id)
        assert cancelled.status == ApprovalStatus.CANCELLED.value
        assert cancelled.decided_at is not None
        entries = session.scalars(
            select(AuditEntry).where(
                AuditEntry.tip_id == tip_id, AuditEntry.action == "approval.cancelled"
            )
        ).all()
    assert len(entries) == 1
    assert entries[0].actor == "system"
    assert str(reroute.id) in entries[0].canonical.decode()
    assert actions(engine, tip_id)[-1] == "tip.purged"
