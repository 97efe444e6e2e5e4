"""The transition table, flags, assignment, priority, messages and notes, on both backends."""

from __future__ import annotations

import json
import uuid
from functools import partial
from typing import Any

import pytest
from sqlalchemy import Engine, select
from sqlalchemy.orm import Session

from service.approvals.models import Approval, ApprovalStatus
from service.approvals.service import decide
from service.blobs.store import read_blob
from service.config import Settings
from service.db import make_session_factory, utcnow
from service.errors import Conflict, InvalidInput, InvalidTransition, NotFound
from service.instance.context import load_context
from service.tips import casework, workflow
from service.tips.conversation import reporter_view
from service.tips.keys import open_tip_keys
from service.tips.models import Note, Status, Tip
from service.tips.reporter_auth import login_with_receipt, open_token
from service.tips.workflow import TRANSITIONS, transition
from tests.factories import in_tx, submit, tip_row
from tests.service.workflow_util import Cast, actions, cast

ALL_STATES = list(Status)
ASK = "Could you tell us which shift this happened on?"


@pytest.fixture
def crew(engine: Engine, settings: Settings) -> Cast:
    return cast(engine, settings)


def _set_status(engine: Engine, tip_id: uuid.UUID, status: Status) -> None:
    def change(session: Session) -> None:
        tip = session.get(Tip, tip_id)
        assert tip is not None
        tip.status = status.value

    in_tx(engine, change)


def _move(engine: Engine, crew: Cast, tip_id: uuid.UUID, to: str, **kw: Any) -> Any:
    return in_tx(engine, lambda s: transition(s, crew.ana, tip_id, to=to, now=utcnow(), **kw))


def _extras(rule: workflow.Transition) -> dict[str, object]:
    if rule.requires is workflow.Requirement.MESSAGE:
        return {"message": ASK}
    if rule.requires is workflow.Requirement.CLOSURE_REASON:
        return {"reason": "duplicate"}
    if rule.requires is workflow.Requirement.FINDINGS:
        return {"findings": {"bribery": "sustained", "leaking": "unfounded"}}
    return {}


@pytest.mark.parametrize("rule", TRANSITIONS, ids=lambda r: f"{r.source}-{r.target}")
def test_every_legal_transition_applies_and_leaves_its_audit_entry(
    engine: Engine, settings: Settings, crew: Cast, rule: workflow.Transition
) -> None:
    tip_id, _ = submit(engine, settings)
    before: list[str] = []
    if rule.resume_only:  # needs_info returns where it came from: enter it from there
        _set_status(engine, tip_id, rule.target)
        _move(engine, crew, tip_id, "needs_info", message=ASK)
        before = ["message.sent", "tip.transitioned"]
    else:
        _set_status(engine, tip_id, rule.source)
    result = _move(engine, crew, tip_id, rule.target.value, **_extras(rule))
    tip = tip_row(engine, tip_id)
    if rule.needs_approval is not None:
        assert result.outcome == "approval_requested"
        assert tip.status == rule.source
        assert actions(engine, tip_id) == ["approval.requested"]
        return
    assert result.outcome == "applied"
    assert tip.status == rule.target
    expected = ["message.sent"] if rule.requires is workflow.Requirement.MESSAGE else []
    assert actions(engine, tip_id) == [*before, *expected, "tip.transitioned"]


def test_illegal_transitions_are_409_and_change_nothing(
    engine: Engine, settings: Settings, crew: Cast
) -> None:
    tip_id, _ = submit(engine, settings)
    legal = {(t.source, t.target) for t in TRANSITIONS}
    for source in ALL_STATES:
        _set_status(engine, tip_id, source)
        for target in ALL_STATES:
            if (source, target) in legal:
                continue
            with pytest.raises(InvalidTransition) as caught:
                _move(engine, crew, tip_id, target.value, reason="duplicate", message=ASK)
            assert caught.value.status == 409
            assert tip_row(engine, tip_id).status == source
    assert actions(engine, tip_id) == []


def test_first_triage_acknowledges_and_the_reporter_sees_it(
    engine: Engine, settings: Settings, crew: Cast
) -> None:
    tip_id, receipt = submit(engine, settings)
    assert _reporter(engine, settings, receipt)["status"] == "received"
    _move(engine, crew, tip_id, "triage")
    first = tip_row(engine, tip_id).acknowledged_at
    assert first is not None
    assert _reporter(engine, settings, receipt)["status"] == "acknowledged"
    _move(engine, crew, tip_id, "needs_info", message=ASK)
    _move(engine, crew, tip_id, "triage")
    assert tip_row(engine, tip_id).acknowledged_at == first  # only the first triage acknowledges


def _reporter(engine: Engine, settings: Settings, receipt: str) -> dict[str, object]:
    def view(session: Session) -> dict[str, object]:
        ctx = load_context(session, settings)
        token = login_with_receipt(session, ctx, receipt, now=utcnow()).token
        assert token is not None
        seen = reporter_view(session, open_token(ctx, token, now=utcnow()), today=utcnow().date())
        return {"status": seen.status, "messages": [m.body for m in seen.messages]}

    return in_tx(engine, view)


def test_needs_info_needs_a_message_and_the_reporter_reads_it(
    engine: Engine, settings: Settings, crew: Cast
) -> None:
    tip_id, receipt = submit(engine, settings)
    _move(engine, crew, tip_id, "triage")
    for missing in (None, "   "):
        with pytest.raises(InvalidInput):
            _move(engine, crew, tip_id, "needs_info", message=missing)
    assert tip_row(engine, tip_id).status == Status.TRIAGE
    _move(engine, crew, tip_id, "needs_info", message=ASK)
    seen = _reporter(engine, settings, receipt)
    assert seen == {"status": "in_review", "messages": [ASK]}


def test_closing_from_triage_needs_a_known_reason_and_another_supervisor(
    engine: Engine, settings: Settings, crew: Cast
) -> None:
    tip_id, _ = submit(engine, settings)
    _move(engine, crew, tip_id, "triage")
    for bad in (None, "findings", "bored"):
        with pytest.raises(InvalidInput):
            _move(engine, crew, tip_id, "closed", reason=bad)
    asked = _move(engine, crew, tip_id, "closed", reason="spam")
    assert (asked.outcome, tip_row(engine, tip_id).status) == ("approval_requested", "triage")
    in_tx(engine, lambda s: decide(s, crew.sam, asked.approval_id, approve=True, now=utcnow()))
    tip = tip_row(engine, tip_id)
    assert (tip.status, tip.closure_reason) == ("closed", "spam")
    assert tip.closed_at is not None
    last = in_tx(engine, lambda s: workflow_history(s, tip_id))[-1]
    assert last.details == {"from": "triage", "to": "closed", "reason": "spam"}
    assert last.actor == str(crew.sam.staff_id)


def workflow_history(session: Session, tip_id: uuid.UUID) -> list:  # type: ignore[type-arg]
    from service.audit.log import history

    return history(session, tip_id)


@pytest.mark.parametrize(
    "findings",
    [
        None,
        {},
        {"bribery": "sustained"},  # one allegation missing
        {"bribery": "sustained", "leaking": "sustained", "theft": "sustained"},  # not alleged
        {"bribery": "sustained", "leaking": "guilty"},  # not a finding
    ],
)
def test_closing_with_bad_findings_is_422_and_files_nothing(
    engine: Engine, settings: Settings, crew: Cast, findings: dict[str, str] | None
) -> None:
    tip_id, _ = submit(engine, settings)
    _set_status(engine, tip_id, Status.DECISION_REVIEW)
    with pytest.raises(InvalidInput):
        _move(engine, crew, tip_id, "closed", findings=findings)
    with make_session_factory(engine)() as session:
        assert session.scalars(select(Approval)).all() == []
    assert actions(engine, tip_id) == []


def test_unknown_state_is_422(engine: Engine, settings: Settings, crew: Cast) -> None:
    tip_id, _ = submit(engine, settings)
    with pytest.raises(InvalidInput):
        _move(engine, crew, tip_id, "archived")


def test_leaving_decision_review_cancels_a_pending_closure(
    engine: Engine, settings: Settings, crew: Cast
) -> None:
    tip_id, _ = submit(engine, settings)
    _set_status(engine, tip_id, Status.DECISION_REVIEW)
    _move(
        engine, crew, tip_id, "closed", findings={"bribery": "no_finding", "leaking": "unfounded"}
    )
    _move(engine, crew, tip_id, "investigating")
    with make_session_factory(engine)() as session:
        assert session.scalar(select(Approval.status)) == ApprovalStatus.CANCELLED
    assert actions(engine, tip_id) == [
        "approval.requested",
        "approval.cancelled",
        "tip.transitioned",
    ]


def test_conflicted_and_foreign_staff_get_404_on_every_change(
    engine: Engine, settings: Settings, crew: Cast
) -> None:
    tip_id, _ = submit(engine, settings)
    now = utcnow()
    reprioritise = partial(casework.override_priority, priority=9, reason="x", now=now)
    for who in (crew.carl, crew.luis):
        calls = [
            lambda s, p=who: transition(s, p, tip_id, to="triage", now=now),
            lambda s, p=who: casework.assign(s, p, tip_id, p.staff_id),
            lambda s, p=who: casework.set_flags(s, p, tip_id, urgent=True, now=now),
            lambda s, p=who: reprioritise(s, p, tip_id),
            lambda s, p=who: casework.send_message(s, p, tip_id, ASK, now=now),
            lambda s, p=who: casework.add_note(s, p, tip_id, "a note", now=now),
        ]
        for call in calls:
            with pytest.raises(NotFound):
                in_tx(engine, call)
    assert actions(engine, tip_id) == []
    assert tip_row(engine, tip_id).status == Status.RECEIVED


def test_assignee_must_be_in_the_audience(engine: Engine, settings: Settings, crew: Cast) -> None:
    tip_id, _ = submit(engine, settings)
    now = utcnow()
    for outsider in (crew.carl.staff_id, crew.luis.staff_id, uuid.uuid4()):
        with pytest.raises(InvalidInput) as caught:
            in_tx(engine, lambda s, o=outsider: casework.assign(s, crew.ana, tip_id, o))
        assert caught.value.status == 422
    in_tx(engine, lambda s: casework.assign(s, crew.ana, tip_id, crew.sam.staff_id))
    assert tip_row(engine, tip_id).assignee_id == crew.sam.staff_id
    in_tx(engine, lambda s: casework.assign(s, crew.ana, tip_id, crew.sam.staff_id))  # no change
    in_tx(engine, lambda s: casework.assign(s, crew.ana, tip_id, None))
    assert tip_row(engine, tip_id).assignee_id is None
    assert actions(engine, tip_id) == ["tip.assigned", "tip.assigned"]
    del now


def test_flags_urgent_and_legal_hold_and_lifting_needs_approval(
    engine: Engine, settings: Settings, crew: Cast
) -> None:
    tip_id, _ = submit(engine, settings)
    now = utcnow()
    in_tx(
        engine,
        lambda s: casework.set_flags(s, crew.ana, tip_id, urgent=True, legal_hold=True, now=now),
    )
    tip = tip_row(engine, tip_id)
    assert (tip.urgent, tip.legal_hold) == (True, True)
    result = in_tx(
        engine,
        lambda s: casework.set_flags(s, crew.ana, tip_id, urgent=False, legal_hold=False, now=now),
    )
    assert (result.urgent, result.legal_hold) == (False, True)
    assert result.approval_id is not None
    assert actions(engine, tip_id) == [
        "tip.flagged",
        "tip.flagged",
        "approval.requested",
        "tip.flagged",
    ]
    with pytest.raises(Conflict):  # one pending request per kind
        in_tx(engine, lambda s: casework.set_flags(s, crew.ana, tip_id, legal_hold=False, now=now))


def test_priority_override_keeps_its_reason_encrypted(
    engine: Engine, settings: Settings, crew: Cast
) -> None:
    tip_id, _ = submit(engine, settings)
    computed = tip_row(engine, tip_id).priority
    reason = "Reporter says a raid is planned for Friday"

    def override(priority: int, why: str) -> uuid.UUID:
        def work(session: Session) -> uuid.UUID:
            return casework.override_priority(
                session, crew.ana, tip_id, priority=priority, reason=why, now=utcnow()
            )

        return in_tx(engine, work)

    note_id = override(90, reason)
    with pytest.raises(InvalidInput):
        override(-1, reason)
    with pytest.raises(InvalidInput):
        override(5, " ")
    with make_session_factory(engine)() as session:
        tip = session.get(Tip, tip_id)
        assert tip is not None
        assert tip.priority == 90
        note = session.get(Note, note_id)
        assert note is not None
        assert note.kind == "priority"
        case = open_tip_keys(session, tip_id, crew.sam.identity).case
        assert json.loads(read_blob(session, note.blob_id, [case]))["body"] == reason
        entry = workflow_history(session, tip_id)[-1]
        assert (entry.action, entry.details) == (
            "tip.priority_overridden",
            {"from": computed, "to": 90},
        )
        assert reason not in repr(entry)


def test_notes_are_encrypted_to_the_case_key(
    engine: Engine, settings: Settings, crew: Cast
) -> None:
    tip_id, _ = submit(engine, settings)
    body = "Check the duty roster for the night of the 3rd"
    note_id = in_tx(engine, lambda s: casework.add_note(s, crew.ana, tip_id, body, now=utcnow()))
    for bad in ("", "x" * (casework.NOTE_MAX + 1)):
        with pytest.raises(InvalidInput):
            in_tx(engine, lambda s, b=bad: casework.add_note(s, crew.ana, tip_id, b, now=utcnow()))
    with make_session_factory(engine)() as session:
        note = session.get(Note, note_id)
        assert note is not None
        keys = open_tip_keys(session, tip_id, crew.sue.identity)
        assert json.loads(read_blob(session, note.blob_id, [keys.case]))["body"] == body
    assert actions(engine, tip_id) == ["note.added"]


def test_staff_message_reaches_the_reporter(engine: Engine, settings: Settings, crew: Cast) -> None:
    tip_id, receipt = submit(engine, settings)
    in_tx(engine, lambda s: casework.send_message(s, crew.sam, tip_id, ASK, now=utcnow()))
    assert _reporter(engine, settings, receipt)["messages"] == [ASK]
    assert actions(engine, tip_id) == ["message.sent"]


def test_allowed_actions_follow_the_table(engine: Engine, settings: Settings, crew: Cast) -> None:
    tip_id, _ = submit(engine, settings)
    tip = tip_row(engine, tip_id)
    assert workflow.allowed_actions(tip, crew.ana)[:1] == ["to:triage"]
    assert "decide" not in workflow.allowed_actions(tip, crew.ana)
    assert "decide" in workflow.allowed_actions(tip, crew.sam)
    tip.status = Status.TRIAGE.value
    assert {"to:investigating", "to:needs_info", "to:closed"} <= set(
        workflow.allowed_actions(tip, crew.ana)
    )
