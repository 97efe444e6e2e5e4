"""Attack (review of issue 13): one supervisor buries a contested closure. The reporter contested
the closure; oversight asked for a reroute; the audience's supervisor rejects it (audited, "can
delay it" - docs/security.md) and waits: once retention ends, the sweep files a purge by system
and that same supervisor alone approves it - the contested tip and the pending reroute are gone,
with no second person. A contested tip outside oversight is kept like a tip under legal hold: no
purge request by the sweep, none filed or approved by staff (409), none carried out by the worker
(cancelled, `retention.purge_blocked`). Once rerouted to oversight it can be purged when a person
asks and another agrees, never by the sweep's request."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime, timedelta

import pytest
from sqlalchemy import Engine, select
from sqlalchemy.orm import Session

from service.approvals import service as approvals
from service.approvals.models import Approval, ApprovalKind, ApprovalStatus
from service.compartments.models import Compartment
from service.config import Settings
from service.db import make_session_factory, utcnow
from service.errors import Conflict
from service.retention.sweep import run_approved_purges
from service.tips.models import Tip
from tests.factories import in_tx, submit
from tests.service.retention_util import close_as_of, run_sweep
from tests.service.workflow_util import Cast, actions, cast


@pytest.fixture
def crew(engine: Engine, settings: Settings) -> Cast:
    return cast(engine, settings)


def _contest(engine: Engine, tip_id: uuid.UUID) -> None:
    """Set up a contested closure (contesting itself is tested in test_contest)."""

    def contest(session: Session) -> None:
        session.get_one(Tip, tip_id).contested_on = utcnow().date()

    in_tx(engine, contest)


def _purges(engine: Engine, tip_id: uuid.UUID) -> list[Approval]:
    with make_session_factory(engine)() as session:
        query = select(Approval).where(
            Approval.tip_id == tip_id, Approval.kind == ApprovalKind.PURGE.value
        )
        return list(session.scalars(query))


def test_the_sweep_files_no_purge_for_a_contested_tip(
    engine: Engine, settings: Settings, crew: Cast
) -> None:
    tip_id, _ = submit(engine, settings)
    closed = datetime(2025, 1, 10, tzinfo=UTC)
    close_as_of(engine, tip_id, closed)
    _contest(engine, tip_id)
    run_sweep(engine, settings, closed + timedelta(days=settings.retention_days + 5))
    assert _purges(engine, tip_id) == []


def test_staff_cannot_purge_a_contested_tip_alone_or_otherwise(
    engine: Engine, settings: Settings, crew: Cast
) -> None:
    tip_id, _ = submit(engine, settings)
    close_as_of(engine, tip_id, utcnow())
    asked = in_tx(
        engine, lambda s: approvals.request(s, crew.ana, tip_id, kind="purge", now=utcnow())
    )
    _contest(engine, tip_id)  # contested while the request waits
    with pytest.raises(Conflict):
        in_tx(engine, lambda s: approvals.decide(s, crew.sam, asked.id, approve=True, now=utcnow()))
    with pytest.raises(Conflict):
        in_tx(engine, lambda s: approvals.request(s, crew.sue, tip_id, kind="purge", now=utcnow()))


def test_the_worker_blocks_a_purge_approved_before_the_contest(
    engine: Engine, settings: Settings, crew: Cast
) -> None:
    tip_id, _ = submit(engine, settings)
    close_as_of(engine, tip_id, utcnow())
    asked = in_tx(
        engine, lambda s: approvals.request(s, crew.ana, tip_id, kind="purge", now=utcnow())
    )
    in_tx(engine, lambda s: approvals.decide(s, crew.sam, asked.id, approve=True, now=utcnow()))
    _contest(engine, tip_id)
    result = in_tx(engine, lambda s: run_approved_purges(s, now=utcnow()))
    assert result.purged == []
    assert result.blocked == 1
    assert [a.status for a in _purges(engine, tip_id)] == [ApprovalStatus.CANCELLED.value]
    assert actions(engine, tip_id)[-1] == "retention.purge_blocked"
    with make_session_factory(engine)() as session:
        assert not session.get_one(Tip, tip_id).purged


def test_a_contested_tip_rerouted_to_oversight_gets_no_purge_by_system(
    engine: Engine, settings: Settings, crew: Cast
) -> None:
    """Review attack: once the reroute brings a long-expired contested tip to oversight, the
    sweep filed a purge by system at once, and one oversight supervisor alone approved it,
    ending the contest. A contested tip is purged only when a person asks and another agrees."""
    tip_id, _ = submit(engine, settings)
    closed = datetime(2025, 1, 10, tzinfo=UTC)
    close_as_of(engine, tip_id, closed)
    _contest(engine, tip_id)

    def to_oversight(session: Session) -> None:
        oversight = session.scalars(select(Compartment).where(Compartment.oversight)).one()
        session.get_one(Tip, tip_id).compartment_id = oversight.id

    in_tx(engine, to_oversight)  # as the approved reroute leaves it (tested in test_contest)
    run_sweep(engine, settings, closed + timedelta(days=settings.retention_days + 5))
    assert _purges(engine, tip_id) == []
