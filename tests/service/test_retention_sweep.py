"""The retention sweep (issue 13): closed tips move to their expiry bucket, supervisors are
warned before retention ends, an expired tip gets a purge request by "system" that another
supervisor approves and the worker carries out; legal hold blocks every step. Both backends."""

from __future__ import annotations

import uuid
from datetime import datetime, timedelta

import pytest
from sqlalchemy import Engine, select

from service.approvals import service as approvals
from service.approvals.models import Approval
from service.audit.models import AuditEntry
from service.config import Settings
from service.db import make_session_factory, utcnow
from service.errors import Conflict, Forbidden, InvalidInput
from service.retention.buckets import expiry_bucket, next_month
from service.retention.service import expiring_tips, set_retention
from service.retention.sweep import purge_job
from service.tips import casework
from service.tips.keys import open_tip_keys
from tests.factories import in_tx, submit, tip_row
from tests.service.retention_util import close_as_of, raw_envelopes, run_sweep
from tests.service.workflow_util import Cast, actions, cast

NOW = datetime(2027, 6, 15, 12, 0, tzinfo=utcnow().tzinfo)


@pytest.fixture
def crew(engine: Engine, settings: Settings) -> Cast:
    return cast(engine, settings)


def _closed(engine: Engine, settings: Settings, days_ago: int) -> uuid.UUID:
    tip_id, _ = submit(engine, settings)
    close_as_of(engine, tip_id, NOW - timedelta(days=days_ago))
    return tip_id


def audit_actions(engine: Engine) -> list[str]:
    with make_session_factory(engine)() as session:
        return list(session.scalars(select(AuditEntry.action)))


def _purges(engine: Engine, tip_id: uuid.UUID) -> list[tuple[uuid.UUID | None, str]]:
    with make_session_factory(engine)() as session:
        rows = session.execute(
            select(Approval.requested_by, Approval.status).where(
                Approval.tip_id == tip_id, Approval.kind == "purge"
            )
        )
        return [(who, status) for who, status in rows]


def test_closed_tips_move_to_their_expiry_bucket_and_supervisors_are_warned(
    engine: Engine, settings: Settings, crew: Cast
) -> None:
    soon = _closed(engine, settings, days_ago=350)  # retention (365 days) ends in 15 days
    later = _closed(engine, settings, days_ago=10)
    result = run_sweep(engine, settings, NOW)
    assert (result.moved, result.requested) == (4, 0)  # staff and reporter envelopes each
    assert result.destroyed == 1  # the intake bucket they left, now empty and past
    expires = (NOW - timedelta(days=350)).date() + timedelta(days=365)
    assert {r.bucket for r in raw_envelopes(engine, soon)} == {expiry_bucket(expires)}
    assert run_sweep(engine, settings, NOW).moved == 0  # nothing left to move
    with make_session_factory(engine)() as session:
        warned = expiring_tips(session, crew.sam, settings, today=NOW.date())
        assert [(w.tip_id, w.expires_on, w.purge_requested) for w in warned] == [
            (soon, expires, False)
        ]
        with pytest.raises(Forbidden):
            expiring_tips(session, crew.ana, settings, today=NOW.date())  # a reviewer
        # Another compartment's supervisor sees nothing of it.
        assert later not in {w.tip_id for w in warned}
        assert open_tip_keys(session, soon, crew.sam.identity)  # still opens after the move


def test_an_expired_tip_gets_one_system_request_another_supervisor_approves_then_the_worker_purges(
    engine: Engine, settings: Settings, crew: Cast
) -> None:
    tip_id = _closed(engine, settings, days_ago=400)
    assert run_sweep(engine, settings, NOW).requested == 1
    assert run_sweep(engine, settings, NOW).requested == 0  # not filed twice
    assert _purges(engine, tip_id) == [(None, "pending")]
    with make_session_factory(engine)() as session:
        (pending,) = [p for p in approvals.pending_for(session, crew.sam) if p.tip_id == tip_id]
    assert pending.requested_by == "system"
    assert not tip_row(engine, tip_id).purged
    in_tx(engine, lambda s: approvals.decide(s, crew.sam, pending.id, approve=True, now=NOW))
    assert not tip_row(engine, tip_id).purged  # the worker does it
    factory = make_session_factory(engine)
    assert purge_job(factory, settings) == 1
    assert purge_job(factory, settings) == 0  # executing twice does nothing more
    assert tip_row(engine, tip_id).purged
    assert raw_envelopes(engine, tip_id) == []
    assert actions(engine, tip_id)[-3:] == ["approval.requested", "approval.decided", "tip.purged"]
    with pytest.raises(Conflict):  # decided already
        in_tx(engine, lambda s: approvals.decide(s, crew.sue, pending.id, approve=True, now=NOW))


def test_a_rejected_retention_purge_is_not_asked_again_at_once(
    engine: Engine, settings: Settings, crew: Cast
) -> None:
    tip_id = _closed(engine, settings, days_ago=400)
    run_sweep(engine, settings, NOW)
    ((approval_id,),) = [
        (a.id,) for a in in_tx(engine, lambda s: approvals.pending_for(s, crew.sam))
    ]
    in_tx(engine, lambda s: approvals.decide(s, crew.sam, approval_id, approve=False, now=NOW))
    assert run_sweep(engine, settings, NOW + timedelta(days=1)).requested == 0
    assert run_sweep(engine, settings, NOW + timedelta(days=31)).requested == 1
    assert sorted(status for _, status in _purges(engine, tip_id)) == ["pending", "rejected"]


def test_legal_hold_blocks_the_request_the_approval_and_the_execution(
    engine: Engine, settings: Settings, crew: Cast
) -> None:
    tip_id = _closed(engine, settings, days_ago=400)
    asked = in_tx(engine, lambda s: approvals.request(s, crew.ana, tip_id, kind="purge", now=NOW))
    with pytest.raises(Forbidden):  # nobody approves their own request
        in_tx(engine, lambda s: approvals.decide(s, crew.ana, asked.id, approve=True, now=NOW))
    in_tx(engine, lambda s: approvals.decide(s, crew.sam, asked.id, approve=True, now=NOW))
    # The hold comes after the approval, before the worker: execution refuses.
    hold = in_tx(
        engine, lambda s: casework.set_flags(s, crew.ana, tip_id, legal_hold=True, now=NOW)
    )
    assert hold.legal_hold
    assert purge_job(make_session_factory(engine), settings) == 0
    assert not tip_row(engine, tip_id).purged
    assert _purges(engine, tip_id) == [(crew.ana.staff_id, "cancelled")]
    assert "retention.purge_blocked" in actions(engine, tip_id)
    with pytest.raises(Conflict, match="legal hold"):  # and the request itself
        in_tx(engine, lambda s: approvals.request(s, crew.ana, tip_id, kind="purge", now=NOW))
    # The sweep files nothing and moves the held tip to next month's bucket, each month.
    assert run_sweep(engine, settings, NOW).requested == 0
    later = {r.bucket for r in raw_envelopes(engine, tip_id)}
    assert later == {expiry_bucket(next_month(NOW.date()))}
    with make_session_factory(engine)() as session:
        assert open_tip_keys(session, tip_id, crew.sam.identity)


def test_a_compartment_retention_changes_expiry_and_is_audited(
    engine: Engine, settings: Settings, crew: Cast
) -> None:
    tip_id = _closed(engine, settings, days_ago=100)
    assert run_sweep(engine, settings, NOW).requested == 0
    in_tx(engine, lambda s: set_retention(s, "system", "us", 90))
    assert run_sweep(engine, settings, NOW).requested == 1
    expires = (NOW - timedelta(days=100)).date() + timedelta(days=90)
    assert {r.bucket for r in raw_envelopes(engine, tip_id)} == {expiry_bucket(expires)}
    with pytest.raises(InvalidInput, match="days"):
        in_tx(engine, lambda s: set_retention(s, "system", "us", 0))
    assert "compartment.retention_set" in audit_actions(engine)
