"""POST /api/v1/tips end to end: stored encrypted, routed to the right audience, durable."""

from __future__ import annotations

import json

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import Engine, func, select

from crypto.age import decrypt_bytes
from crypto.errors import DecryptionError
from crypto.receipt import Receipt, new_receipt, parse_receipt
from service.audit.models import PendingAuditEntry
from service.blobs.store import read_blob
from service.compartments.models import Compartment
from service.config import Settings
from service.db import make_session_factory
from service.tips import intake
from service.tips.keys import envelope_bytes
from service.tips.models import EnvelopeKind, SubjectIndex, SubjectToken, Tip, TipAudience
from tests.factories import Border, add_conflict, tip_json


def _tips(engine: Engine) -> list[Tip]:
    with make_session_factory(engine)() as session:
        return list(session.scalars(select(Tip)))


def _count(engine: Engine, model: type) -> int:
    with make_session_factory(engine)() as session:
        return session.scalar(select(func.count()).select_from(model)) or 0


def _open(engine: Engine, tip: Tip, kind: str, identity: str) -> str:
    """A tip private key: conversation and case from the staff envelope, identity from its own."""
    with make_session_factory(engine)() as session:
        wanted = EnvelopeKind.IDENTITY if kind == "identity" else EnvelopeKind.STAFF
        envelope = envelope_bytes(session, tip.id, wanted)
        assert envelope is not None
        data = decrypt_bytes(envelope, [identity]).decode()
    return data if kind == "identity" else str(json.loads(data)[kind])


def _compartment(engine: Engine, tip: Tip) -> str:
    with make_session_factory(engine)() as session:
        compartment = session.get(Compartment, tip.compartment_id)
        assert compartment is not None
        return compartment.name


def test_form_lists_agencies_allegations_and_limits(web: TestClient) -> None:
    form = web.get("/api/v1/intake/form").json()
    slugs = [a["slug"] for a in form["agencies"]]
    assert {"el-paso-pd", "tijuana-municipal", "other"} <= set(slugs)
    bribery = next(a for a in form["allegations"] if a["code"] == "bribery")
    assert bribery["label"] == {"en": "Bribery", "es": "Soborno"}
    assert form["limits"]["files_max"] > 0


def test_a_json_tip_is_stored_encrypted_for_its_audience(
    web: TestClient, engine: Engine, border: Border
) -> None:
    response = web.post("/api/v1/tips", json=tip_json(contact="Signal +52 664 000 0000"))
    assert response.status_code == 201, response.text
    receipt = response.json()["receipt"]
    assert len(receipt.replace("-", "")) == 32
    (tip,) = _tips(engine)
    assert _compartment(engine, tip) == "us"
    # The audience's reviewers and the recovery key open the conversation key; others don't.
    conversation = _open(engine, tip, "conversation", border.reviewer_us.identity)
    assert conversation == _open(engine, tip, "conversation", border.recovery_identity)
    for outsider in (border.reviewer_mx, border.oversight):
        with pytest.raises(DecryptionError):
            _open(engine, tip, "conversation", outsider.identity)
    # Contact details: only the supervisor (identity custodian) and recovery.
    identity_key = _open(engine, tip, "identity", border.supervisor_us.identity)
    with pytest.raises(DecryptionError):
        _open(engine, tip, "identity", border.reviewer_us.identity)
    with make_session_factory(engine)() as session:
        report = json.loads(read_blob(session, tip.report_blob_id, [conversation]))  # type: ignore[arg-type]
        contact = json.loads(read_blob(session, tip.contact_blob_id, [identity_key]))  # type: ignore[arg-type]
        # Name and badge as written; the unit as written and as a sorted token set.
        assert session.scalar(select(func.count()).where(SubjectIndex.tip_id == tip.id)) == 4
        # juan, ramirez; 4471; 3, bridge, unit.
        assert session.scalar(select(func.count()).where(SubjectToken.tip_id == tip.id)) == 6
        audit = session.scalars(select(PendingAuditEntry)).all()
    assert report["narrative"].startswith("Sergeant Ramirez")
    # The reporter's envelope holds the conversation key for the receipt's key alone.
    assert tip.conversation_recipient != tip.case_recipient
    assert "contact" not in report
    assert contact == {"contact": "Signal +52 664 000 0000"}
    assert [(a.actor, a.action, a.details) for a in audit] == [
        ("reporter", "tip.submitted", {"tip_id": str(tip.id)})
    ]
    assert tip.received_on == tip.reporter_active_on
    assert tip.priority > 0


def test_conflicted_reviewer_never_receives_tip_key(
    web: TestClient, engine: Engine, settings: Settings, border: Border
) -> None:
    add_conflict(engine, settings, border.reviewer_us.id, "badge", "4471")
    assert web.post("/api/v1/tips", json=tip_json()).status_code == 201
    (tip,) = _tips(engine)
    # Ana is conflicted and Sam (a supervisor) remains, so the tip stays in "us" without her.
    assert _compartment(engine, tip) == "us"
    for kind in ("conversation", "case"):
        with pytest.raises(DecryptionError):
            _open(engine, tip, kind, border.reviewer_us.identity)
        _open(engine, tip, kind, border.supervisor_us.identity)
    with make_session_factory(engine)() as session:
        audience = set(session.scalars(select(TipAudience.staff_id)))
    assert audience == {border.supervisor_us.id}


def test_a_tip_with_no_eligible_reviewer_goes_to_oversight(
    web: TestClient, engine: Engine, settings: Settings, border: Border
) -> None:
    for member in (border.reviewer_us, border.supervisor_us):
        add_conflict(engine, settings, member.id, "unit", "bridge unit 3")
    assert web.post("/api/v1/tips", json=tip_json()).status_code == 201
    (tip,) = _tips(engine)
    assert _compartment(engine, tip) == "oversight"
    _open(engine, tip, "conversation", border.oversight.identity)


@pytest.mark.parametrize(
    ("overrides", "compartment"),
    [({"senior_official": True}, "oversight"), ({"agency": "other"}, "oversight")],
)
def test_leadership_and_unknown_agencies_route_to_oversight_and_default(
    web: TestClient, engine: Engine, overrides: dict[str, object], compartment: str
) -> None:
    assert web.post("/api/v1/tips", json=tip_json(**overrides)).status_code == 201
    (tip,) = _tips(engine)
    assert _compartment(engine, tip) == compartment


def test_threats_make_a_tip_urgent_and_high_priority(web: TestClient, engine: Engine) -> None:
    narrative = "Van a matar al testigo esta noche; el comandante filtró el operativo."
    body = tip_json(narrative=narrative, reporter_at_risk=True, language="es")
    assert web.post("/api/v1/tips", json=body).status_code == 201
    (tip,) = _tips(engine)
    assert tip.urgent
    assert tip.priority >= 40 + 15 + 15 + 15


def test_idempotency_key_returns_the_same_receipt_and_stores_one_tip(
    web: TestClient, engine: Engine
) -> None:
    headers = {"Idempotency-Key": "retry-4f1c9b2e-0a77-4d"}
    first = web.post("/api/v1/tips", json=tip_json(), headers=headers)
    second = web.post("/api/v1/tips", json=tip_json(), headers=headers)
    assert first.status_code == second.status_code == 201
    assert first.json() == second.json()
    assert len(_tips(engine)) == 1
    other = web.post("/api/v1/tips", json=tip_json(narrative="x" * 40), headers=headers)
    assert other.status_code == 409
    assert other.json()["error"] == "conflict"
    assert len(_tips(engine)) == 1


@pytest.mark.parametrize(
    ("body", "status", "field"),
    [
        (tip_json(agency="nowhere-pd"), 422, "agency"),
        (tip_json(allegations=[]), 422, "allegations"),
        (tip_json(allegations=["murder"]), 422, "allegations"),
        (tip_json(narrative="short"), 422, "narrative"),
        (tip_json(narrative="x" * 20_001), 422, "narrative"),
        (tip_json(subjects=[{"rank": "Sgt"}]), 422, "subjects"),
        (tip_json(subjects=[{"name": "n"}] * 11), 422, "subjects"),
        (tip_json(unexpected="field"), 422, "unexpected"),
        (tip_json(language="fr"), 422, "language"),
    ],
)
def test_bad_tips_get_a_clear_4xx_and_store_nothing(
    web: TestClient, engine: Engine, body: dict[str, object], status: int, field: str
) -> None:
    response = web.post("/api/v1/tips", json=body)
    assert response.status_code == status, response.text
    assert field in response.json()["detail"]
    assert _tips(engine) == []
    assert _count(engine, PendingAuditEntry) == 0


def test_malformed_oversized_and_wrongly_typed_bodies_are_refused(
    web: TestClient, engine: Engine
) -> None:
    assert (
        web.post(
            "/api/v1/tips", content=b"{not json", headers={"content-type": "application/json"}
        ).status_code
        == 400
    )
    huge = json.dumps(tip_json(narrative="x" * 300_000)).encode()
    assert (
        web.post(
            "/api/v1/tips", content=huge, headers={"content-type": "application/json"}
        ).status_code
        == 413
    )
    chunked = (huge[i : i + 8192] for i in range(0, len(huge), 8192))
    assert (
        web.post(
            "/api/v1/tips", content=chunked, headers={"content-type": "application/json"}
        ).status_code
        == 413
    )
    assert (
        web.post("/api/v1/tips", content=b"a=b", headers={"content-type": "text/plain"}).status_code
        == 415
    )
    bad_key = {"Idempotency-Key": "short"}
    assert web.post("/api/v1/tips", json=tip_json(), headers=bad_key).status_code == 422
    assert _tips(engine) == []


def test_openapi_documents_the_tip_body(web: TestClient) -> None:
    spec = web.get("/openapi.json").json()
    body = spec["paths"]["/api/v1/tips"]["post"]["requestBody"]["content"]
    properties = body["application/json"]["schema"]["properties"]
    assert {"agency", "allegations", "narrative", "subjects", "contact"} <= set(properties)
    assert "name" in properties["subjects"]["items"]["properties"]
    assert "multipart/form-data" in body


@pytest.mark.parametrize(
    ("rank", "compartment"),
    [
        ("Police Chief", "oversight"),
        ("Subsecretario de Seguridad", "oversight"),
        ("Jefe de la Policía Municipal", "oversight"),
        ("Jefe de grupo", "us"),
        ("Sgt", "us"),
    ],
)
def test_a_subject_with_a_leadership_rank_routes_to_oversight(
    web: TestClient, engine: Engine, rank: str, compartment: str
) -> None:
    body = tip_json(subjects=[{"name": "R. Dominguez", "rank": rank}])
    assert web.post("/api/v1/tips", json=body).status_code == 201
    (tip,) = _tips(engine)
    assert _compartment(engine, tip) == compartment


@pytest.mark.parametrize("as_multipart", [False, True])
def test_a_taken_receipt_lookup_id_gets_a_fresh_receipt_not_an_error(
    web: TestClient, engine: Engine, monkeypatch: pytest.MonkeyPatch, as_multipart: bool
) -> None:
    first = parse_receipt(web.post("/api/v1/tips", json=tip_json()).json()["receipt"])
    # The next receipt drawn repeats the stored lookup id once (1 in 10^12 per stored tip).
    draws = [Receipt(first.lookup_id, new_receipt().secret)]
    monkeypatch.setattr(intake, "new_receipt", lambda: draws.pop() if draws else new_receipt())
    if as_multipart:
        files = {"tip": (None, json.dumps(tip_json()), "application/json")}
        response = web.post("/api/v1/tips", files=files)
    else:
        response = web.post("/api/v1/tips", json=tip_json())
    assert response.status_code == 201, response.text
    assert not draws  # the taken id was really drawn
    second = parse_receipt(response.json()["receipt"])
    assert second.lookup_id != first.lookup_id
    assert _count(engine, Tip) == 2
