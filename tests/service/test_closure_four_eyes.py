"""No single person ends a tip (issue 10): every move to closed is a request that a different
supervisor approves; when nobody else in the audience can, oversight supervisors decide it
without ever reading the tip."""

from __future__ import annotations

import json
import uuid
from typing import Any

import pytest
from sqlalchemy import Engine, select

from service.approvals import service as approvals
from service.approvals.models import Approval, ApprovalStatus
from service.blobs.store import read_blob
from service.config import Settings
from service.db import make_session_factory, utcnow
from service.errors import Forbidden, NotFound
from service.staff.models import Role
from service.staff.sessions import Principal
from service.tips.keys import open_tip_keys
from service.tips.repository import get_readable_tip
from service.tips.workflow import TRANSITIONS, transition
from tests.factories import (
    REFERRAL_RECIPIENT,
    add_conflict,
    add_staff,
    in_tx,
    principal,
    submit,
    tip_row,
)
from tests.service.workflow_util import Cast, actions, cast

MX = {"agency": "tijuana-municipal"}


@pytest.fixture
def crew(engine: Engine, settings: Settings) -> Cast:
    return cast(engine, settings)


def _move(engine: Engine, who: Principal, tip_id: uuid.UUID, to: str, **kw: Any) -> Any:
    return in_tx(engine, lambda s: transition(s, who, tip_id, to=to, now=utcnow(), **kw))


def _decide(engine: Engine, who: Principal, approval_id: uuid.UUID | None, **kw: Any) -> Any:
    assert approval_id is not None
    return in_tx(
        engine, lambda s: approvals.decide(s, who, approval_id, approve=True, now=utcnow(), **kw)
    )


def _ask_to_close(
    engine: Engine, settings: Settings, who: Principal, reason: str, **tip: str
) -> tuple[uuid.UUID, Any]:
    """A fresh tip that `who` triages, then asks to close (four eyes): (tip id, the answer)."""
    tip_id, _ = submit(engine, settings, **tip)
    _move(engine, who, tip_id, "triage")
    return tip_id, _move(engine, who, tip_id, "closed", reason=reason)


def _state(engine: Engine, tip_id: uuid.UUID) -> tuple[str, str | None]:
    tip = tip_row(engine, tip_id)
    return tip.status, tip.closure_reason


def _pending_ids(engine: Engine, who: Principal) -> set[uuid.UUID]:
    with make_session_factory(engine)() as session:
        return {p.id for p in approvals.pending_for(session, who)}


def _supervisor(engine: Engine, settings: Settings, name: str, compartment: str) -> Principal:
    return principal(
        add_staff(engine, settings, name, Role.SUPERVISOR, [compartment]), Role.SUPERVISOR
    )


def _cannot_decide(
    engine: Engine, who: Principal, approval_id: uuid.UUID, tip_id: uuid.UUID
) -> None:
    """`who` gets a 404 on the approval, as on a missing one, and the tip stays in triage."""
    with pytest.raises(NotFound):
        _decide(engine, who, approval_id)
    assert _state(engine, tip_id) == ("triage", None)


def test_every_move_to_closed_in_the_table_needs_approval() -> None:
    closing = [t for t in TRANSITIONS if t.target == "closed"]
    assert closing
    assert all(t.needs_approval is not None for t in closing)


def test_the_reviewed_sequence_received_triage_closed_spam_waits_for_another_supervisor(
    engine: Engine, settings: Settings, crew: Cast
) -> None:
    tip_id, result = _ask_to_close(engine, settings, crew.ana, "spam")
    assert (result.outcome, result.status) == ("approval_requested", "triage")
    assert _state(engine, tip_id) == ("triage", None)
    assert "approval.requested" in actions(engine, tip_id)
    with pytest.raises(Forbidden):  # a reviewer never decides
        _decide(engine, crew.ana, result.approval_id)
    _decide(engine, crew.sam, result.approval_id)
    assert _state(engine, tip_id) == ("closed", "spam")


def test_a_supervisor_cannot_approve_their_own_closure(
    engine: Engine, settings: Settings, crew: Cast
) -> None:
    tip_id, result = _ask_to_close(engine, settings, crew.sam, "duplicate")
    assert result.approval_id not in _pending_ids(engine, crew.sam)
    with pytest.raises(Forbidden):
        _decide(engine, crew.sam, result.approval_id)
    assert _state(engine, tip_id) == ("triage", None)
    _decide(engine, crew.sue, result.approval_id)
    assert _state(engine, tip_id) == ("closed", "duplicate")


def test_oversight_decides_when_the_requester_is_the_only_supervisor_reader(
    engine: Engine, settings: Settings, crew: Cast
) -> None:
    otto = _supervisor(engine, settings, "otto", "oversight")
    mara = _supervisor(engine, settings, "mara", "mx")
    tip_id, result = _ask_to_close(engine, settings, mara, "spam", **MX)
    assert result.approval_id in _pending_ids(engine, otto)
    with pytest.raises(Forbidden):
        _decide(engine, mara, result.approval_id)
    with make_session_factory(engine)() as session, pytest.raises(NotFound):
        get_readable_tip(session, otto.staff_id, tip_id)  # otto never reads it
    decision = _decide(engine, otto, result.approval_id, reason="Looks like junk to oversight")
    assert decision.status == ApprovalStatus.APPROVED
    assert _state(engine, tip_id) == ("closed", "spam")
    with make_session_factory(engine)() as session:
        get_readable_tip(session, mara.staff_id, tip_id)
        with pytest.raises(NotFound):
            get_readable_tip(session, otto.staff_id, tip_id)
        approval = session.get(Approval, result.approval_id)
        assert approval is not None
        assert approval.decision_reason_blob_id is not None
        keys = open_tip_keys(session, tip_id, mara.identity)
        text = read_blob(session, approval.decision_reason_blob_id, [keys.case])
        assert json.loads(text)["body"] == "Looks like junk to oversight"


def test_oversight_decides_when_no_supervisor_reads_the_tip(
    engine: Engine, settings: Settings, crew: Cast
) -> None:
    otto = _supervisor(engine, settings, "otto", "oversight")
    tip_id, _ = submit(engine, settings, **MX)  # mx: reviewer luis only
    _move(engine, crew.luis, tip_id, "triage")
    result = _move(engine, crew.luis, tip_id, "closed", reason="out_of_scope")
    assert _pending_ids(engine, otto) == {result.approval_id}
    _decide(engine, otto, result.approval_id)
    assert _state(engine, tip_id) == ("closed", "out_of_scope")


def test_oversight_does_not_decide_while_another_audience_supervisor_can(
    engine: Engine, settings: Settings, crew: Cast
) -> None:
    otto = _supervisor(engine, settings, "otto", "oversight")
    tip_id, result = _ask_to_close(engine, settings, crew.ana, "spam")
    assert result.approval_id not in _pending_ids(engine, otto)
    _cannot_decide(engine, otto, result.approval_id, tip_id)


def test_a_conflicted_oversight_supervisor_neither_sees_nor_decides(
    engine: Engine, settings: Settings, crew: Cast
) -> None:
    otto = _supervisor(engine, settings, "otto", "oversight")
    add_conflict(engine, settings, otto.staff_id, "name", "Juan Ramírez")
    tip_id, result = _ask_to_close(engine, settings, crew.luis, "spam", **MX)
    assert _pending_ids(engine, otto) == set()
    _cannot_decide(engine, otto, result.approval_id, tip_id)


def test_a_closure_nobody_can_decide_yet_waits_for_the_first_oversight_supervisor(
    engine: Engine, settings: Settings, crew: Cast
) -> None:
    tip_id, result = _ask_to_close(engine, settings, crew.luis, "spam", **MX)
    with make_session_factory(engine)() as session:
        mine = approvals.own_pending(session, crew.luis)
    assert [(p.id, p.decider) for p in mine] == [(result.approval_id, "none")]
    otto = _supervisor(engine, settings, "otto", "oversight")
    assert _pending_ids(engine, otto) == {result.approval_id}
    _decide(engine, otto, result.approval_id)
    assert _state(engine, tip_id) == ("closed", "spam")


def test_oversight_decides_only_closures(engine: Engine, settings: Settings, crew: Cast) -> None:
    otto = _supervisor(engine, settings, "otto", "oversight")
    tip_id, _ = submit(engine, settings, **MX)
    asked = in_tx(
        engine,
        lambda s: approvals.request(
            s, crew.luis, tip_id, kind="export", recipient=REFERRAL_RECIPIENT, now=utcnow()
        ),
    )
    assert asked.id not in _pending_ids(engine, otto)
    with pytest.raises(NotFound):
        _decide(engine, otto, asked.id)
    with make_session_factory(engine)() as session:
        row = session.scalar(select(Approval.status).where(Approval.id == asked.id))
    assert row == ApprovalStatus.PENDING
