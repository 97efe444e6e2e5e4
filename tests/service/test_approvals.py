"""Four-eyes requests and decisions, on both backends."""

from __future__ import annotations

import json
import uuid
from typing import Any

import pytest
from sqlalchemy import Engine, select
from sqlalchemy.orm import Session

from service.approvals import service as approvals
from service.approvals.models import Approval
from service.blobs.store import read_blob
from service.config import Settings
from service.db import make_session_factory, utcnow
from service.errors import Conflict, Forbidden, InvalidInput, NotFound
from service.instance.context import load_context
from service.retention.sweep import purge_job
from service.staff.models import Role
from service.staff.sessions import Principal
from service.tips import casework
from service.tips.keys import open_identity_key, open_tip_keys
from service.tips.models import Envelope, Status, Tip, TipFinding
from service.tips.reporter_auth import login_with_receipt
from service.tips.workflow import transition
from tests.factories import REFERRAL_RECIPIENT, add_staff, in_tx, principal, submit, tip_row
from tests.service.workflow_util import Cast, actions, cast

FINDINGS = {"bribery": "sustained", "leaking": "not_sustained"}


@pytest.fixture
def crew(engine: Engine, settings: Settings) -> Cast:
    return cast(engine, settings)


def _in_review(engine: Engine, settings: Settings, **overrides: object) -> uuid.UUID:
    tip_id, _ = submit(engine, settings, **overrides)

    def review(session: Session) -> None:
        tip = session.get(Tip, tip_id)
        assert tip is not None
        tip.status = Status.DECISION_REVIEW.value

    in_tx(engine, review)
    return tip_id


def _request_close(engine: Engine, crew: Cast, tip_id: uuid.UUID) -> uuid.UUID:
    result = in_tx(
        engine,
        lambda s: transition(s, crew.ana, tip_id, to="closed", findings=FINDINGS, now=utcnow()),
    )
    assert result.outcome == "approval_requested"
    assert result.approval_id is not None
    return result.approval_id


def _decide(
    engine: Engine, who: Principal, approval_id: uuid.UUID | None, approve: bool = True, **kw: Any
) -> approvals.Decision:
    assert approval_id is not None
    return in_tx(
        engine, lambda s: approvals.decide(s, who, approval_id, approve=approve, now=utcnow(), **kw)
    )


def _ask(engine: Engine, who: Principal, tip_id: uuid.UUID, kind: str, **kw: Any) -> Approval:
    if kind == "export":  # an export names its external recipient (service.export)
        kw.setdefault("recipient", REFERRAL_RECIPIENT)
    return in_tx(engine, lambda s: approvals.request(s, who, tip_id, kind=kind, now=utcnow(), **kw))


def _approval(engine: Engine, approval_id: uuid.UUID | None) -> Approval:
    with make_session_factory(engine)() as session:
        approval = session.get(Approval, approval_id)
        assert approval is not None
        return approval


def test_approval_by_another_supervisor_closes_with_findings(
    engine: Engine, settings: Settings, crew: Cast
) -> None:
    tip_id = _in_review(engine, settings)
    approval_id = _request_close(engine, crew, tip_id)
    assert tip_row(engine, tip_id).status == Status.DECISION_REVIEW
    decision = _decide(engine, crew.sam, approval_id, reason="Evidence is consistent")
    assert decision.status == "approved"
    tip = tip_row(engine, tip_id)
    assert (tip.status, tip.closure_reason) == ("closed", "findings")
    assert tip.closed_at is not None
    with make_session_factory(engine)() as session:
        rows = session.scalars(select(TipFinding).where(TipFinding.tip_id == tip_id)).all()
        assert {r.allegation: r.finding for r in rows} == FINDINGS
        approval = session.get(Approval, approval_id)
        assert approval is not None
        assert approval.decided_by == crew.sam.staff_id
        assert approval.decision_reason_blob_id is not None
        case = open_tip_keys(session, tip_id, crew.sue.identity).case
        text = read_blob(session, approval.decision_reason_blob_id, [case])
        assert json.loads(text)["body"] == "Evidence is consistent"
    assert actions(engine, tip_id) == ["approval.requested", "approval.decided", "tip.transitioned"]


def test_a_requester_cannot_approve_their_own_request(
    engine: Engine, settings: Settings, crew: Cast
) -> None:
    tip_id = _in_review(engine, settings)
    approval_id = in_tx(
        engine,
        lambda s: transition(s, crew.sam, tip_id, to="closed", findings=FINDINGS, now=utcnow()),
    ).approval_id
    for approve in (True, False):
        with pytest.raises(Forbidden, match="your own request") as caught:
            _decide(engine, crew.sam, approval_id, approve)
        assert caught.value.status == 403
    assert _approval(engine, approval_id).status == "pending"
    assert approval_id not in [
        p.id for p in in_tx(engine, lambda s: approvals.pending_for(s, crew.sam))
    ]
    assert actions(engine, tip_id) == ["approval.requested"]


def test_a_reviewer_cannot_approve(engine: Engine, settings: Settings, crew: Cast) -> None:
    tip_id = _in_review(engine, settings)
    approval_id = _request_close(engine, crew, tip_id)
    with pytest.raises(Forbidden):
        _decide(engine, crew.carl, approval_id)
    with pytest.raises(Forbidden):
        in_tx(engine, lambda s: approvals.pending_for(s, crew.ana))
    assert tip_row(engine, tip_id).status == Status.DECISION_REVIEW
    assert actions(engine, tip_id) == ["approval.requested"]


def test_a_decided_request_cannot_be_decided_again(
    engine: Engine, settings: Settings, crew: Cast
) -> None:
    tip_id = _in_review(engine, settings)
    approval_id = _request_close(engine, crew, tip_id)
    assert _decide(engine, crew.sam, approval_id, approve=False).status == "rejected"
    assert tip_row(engine, tip_id).status == Status.DECISION_REVIEW
    for who, approve in ((crew.sue, True), (crew.sam, True), (crew.sam, False)):
        with pytest.raises(Conflict):
            _decide(engine, who, approval_id, approve)
    assert tip_row(engine, tip_id).status == Status.DECISION_REVIEW
    assert actions(engine, tip_id) == ["approval.requested", "approval.decided"]


def test_supervisors_outside_the_audience_neither_see_nor_decide(
    engine: Engine, settings: Settings, crew: Cast
) -> None:
    mia = principal(add_staff(engine, settings, "mia", Role.SUPERVISOR, ["mx"]), Role.SUPERVISOR)
    tip_id = _in_review(engine, settings)
    approval_id = _request_close(engine, crew, tip_id)
    assert in_tx(engine, lambda s: approvals.pending_for(s, mia)) == []
    with pytest.raises(NotFound):
        _decide(engine, mia, approval_id)
    seen = in_tx(engine, lambda s: approvals.pending_for(s, crew.sue))
    assert [(p.id, p.tip_id, p.kind, p.requested_by) for p in seen] == [
        (approval_id, tip_id, "close_with_findings", "ana")
    ]


def test_purge_is_refused_under_legal_hold(engine: Engine, settings: Settings, crew: Cast) -> None:
    tip_id, _ = submit(engine, settings)
    approval_id = _ask(engine, crew.ana, tip_id, "purge").id
    in_tx(engine, lambda s: casework.set_flags(s, crew.ana, tip_id, legal_hold=True, now=utcnow()))
    with pytest.raises(Conflict) as caught:
        _ask(engine, crew.ana, tip_id, "purge")
    assert caught.value.status == 409
    with pytest.raises(Conflict, match="legal hold"):
        _decide(engine, crew.sam, approval_id)
    assert _approval(engine, approval_id).status == "pending"  # rolled back with the refusal
    assert not tip_row(engine, tip_id).purged
    with make_session_factory(engine)() as session:
        assert session.scalars(select(Envelope).where(Envelope.tip_id == tip_id)).all()


def test_purge_shreds_the_keys_so_nobody_can_open_the_tip(
    engine: Engine, settings: Settings, crew: Cast
) -> None:
    tip_id, receipt = submit(engine, settings, contact="Signal +1 555 0100")
    approval_id = _ask(engine, crew.ana, tip_id, "purge", reason="Retention period over").id
    _ask(engine, crew.ana, tip_id, "export")
    _decide(engine, crew.sam, approval_id)
    assert not tip_row(engine, tip_id).purged  # the worker carries it out
    assert purge_job(make_session_factory(engine), settings) == 1
    with make_session_factory(engine)() as session:
        assert session.scalars(select(Envelope).where(Envelope.tip_id == tip_id)).all() == []
        tip = session.get(Tip, tip_id)
        assert tip is not None
        assert tip.purged
        for identity in (crew.sam.identity, crew.ana.identity, crew.border.recovery_identity):
            with pytest.raises(NotFound):
                open_tip_keys(session, tip_id, identity)
        statuses = session.scalars(select(Approval.status).where(Approval.tip_id == tip_id))
        assert sorted(statuses) == ["approved", "cancelled"]

    def reporter_login(session: Session) -> str | None:
        return login_with_receipt(
            session, load_context(session, settings), receipt, now=utcnow()
        ).token

    assert in_tx(engine, reporter_login) is None
    with pytest.raises(Conflict):
        in_tx(engine, lambda s: casework.add_note(s, crew.ana, tip_id, "late note", now=utcnow()))
    assert actions(engine, tip_id) == [
        "approval.requested",
        "approval.requested",
        "approval.decided",
        "approval.cancelled",  # the export request the purge cancelled
        "tip.purged",
    ]


def test_lifting_a_legal_hold_takes_effect_on_approval(
    engine: Engine, settings: Settings, crew: Cast
) -> None:
    tip_id, _ = submit(engine, settings)
    with pytest.raises(Conflict):
        _ask(engine, crew.ana, tip_id, "lift_legal_hold")
    in_tx(engine, lambda s: casework.set_flags(s, crew.ana, tip_id, legal_hold=True, now=utcnow()))
    flags = in_tx(
        engine, lambda s: casework.set_flags(s, crew.ana, tip_id, legal_hold=False, now=utcnow())
    )
    assert flags.legal_hold is True
    assert flags.approval_id is not None
    _decide(engine, crew.sue, flags.approval_id)
    assert tip_row(engine, tip_id).legal_hold is False
    assert actions(engine, tip_id)[-3:] == ["approval.requested", "approval.decided", "tip.flagged"]


def test_export_approval_is_recorded_and_points_to_the_cli(
    engine: Engine, settings: Settings, crew: Cast
) -> None:
    tip_id, _ = submit(engine, settings)
    approval = _ask(engine, crew.ana, tip_id, "export", reason="Refer to the state prosecutor")
    decision = _decide(engine, crew.sam, approval.id)
    assert decision.status == "approved"
    assert "probity export" in decision.detail
    with make_session_factory(engine)() as session:
        stored = session.get(Approval, approval.id)
        assert stored is not None
        assert stored.reason_blob_id is not None
        case = open_tip_keys(session, tip_id, crew.ana.identity).case
        assert b"state prosecutor" in read_blob(session, stored.reason_blob_id, [case])
        assert "prosecutor" not in json.dumps(stored.payload)


@pytest.mark.parametrize(
    ("kind", "extra", "error"),
    [
        ("coffee", {}, InvalidInput),
        ("close_with_findings", {}, InvalidInput),
        ("reroute", {}, InvalidInput),
        ("reroute", {"compartment": "atlantis"}, InvalidInput),
        ("reroute", {"compartment": "us"}, InvalidInput),
        ("export", {"compartment": "mx"}, InvalidInput),
        ("identity_reveal", {}, Conflict),  # no contact details were given
        ("export", {"reason": "x" * 2001}, InvalidInput),
        ("export", {"recipient": ""}, InvalidInput),
        ("export", {"recipient": "age1notarecipient"}, InvalidInput),
        ("export", {"recipient": "ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAA"}, InvalidInput),
        ("export", {"recipient": REFERRAL_RECIPIENT[:-1] + "q"}, InvalidInput),  # checksum
        ("export", {"notes": [str(uuid.uuid4())]}, InvalidInput),  # not a note of this tip
        ("export", {"notes": ["not-an-id"]}, InvalidInput),
        ("purge", {"recipient": REFERRAL_RECIPIENT}, InvalidInput),
    ],
)
def test_bad_requests_are_refused_and_file_nothing(
    engine: Engine, settings: Settings, crew: Cast, kind: str, extra: dict[str, str], error: type
) -> None:
    tip_id, _ = submit(engine, settings)
    with pytest.raises(error):
        _ask(engine, crew.ana, tip_id, kind, **extra)
    with make_session_factory(engine)() as session:
        assert session.scalars(select(Approval)).all() == []
    assert actions(engine, tip_id) == []


def test_outsiders_cannot_file_requests(engine: Engine, settings: Settings, crew: Cast) -> None:
    tip_id, _ = submit(engine, settings)
    for who in (crew.carl, crew.luis):
        with pytest.raises(NotFound):
            _ask(engine, who, tip_id, "export")
    assert actions(engine, tip_id) == []


def test_identity_reveal_on_approval_gives_the_requester_the_contact_key(
    engine: Engine, settings: Settings, crew: Cast
) -> None:
    tip_id, _ = submit(engine, settings, contact="Signal +1 555 0100")
    with make_session_factory(engine)() as session, pytest.raises(NotFound):
        open_identity_key(session, tip_id, crew.ana.identity)
    approval = _ask(engine, crew.ana, tip_id, "identity_reveal", reason="Need to call back")
    decision = _decide(engine, crew.sam, approval.id)
    assert decision.status == "approved"
    with make_session_factory(engine)() as session:
        tip = session.get(Tip, tip_id)
        assert tip is not None
        assert tip.contact_blob_id is not None
        key = open_identity_key(session, tip_id, crew.ana.identity)
        assert b"555 0100" in read_blob(session, tip.contact_blob_id, [key])
    assert actions(engine, tip_id)[-2:] == ["approval.decided", "tip.identity_revealed"]


def test_reroute_on_approval_moves_the_tip_and_its_audience(
    engine: Engine, settings: Settings, crew: Cast
) -> None:
    tip_id, _ = submit(engine, settings)
    approval = _ask(engine, crew.ana, tip_id, "reroute", compartment="mx")
    assert approval.payload == {"compartment": "mx"}
    _decide(engine, crew.sue, approval.id)
    with make_session_factory(engine)() as session:
        assert open_tip_keys(session, tip_id, crew.luis.identity).case
    with pytest.raises(NotFound):
        in_tx(engine, lambda s: casework.add_note(s, crew.ana, tip_id, "still mine?", now=utcnow()))
    in_tx(engine, lambda s: casework.add_note(s, crew.luis, tip_id, "now mine", now=utcnow()))
    tail = ["approval.decided", "tip.rerouted", "tip.keys_rotated", "note.added"]
    assert actions(engine, tip_id)[-4:] == tail
