"""The audit API: who may read the log, entry ranges, checkpoints and proofs that verify."""

from __future__ import annotations

import base64
import json
import random
from datetime import date

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import Engine

from crypto.checkpoint import open_checkpoint, open_inclusion_proof
from crypto.merkle import leaf_hash, verify_consistency, verify_inclusion
from crypto.note import parse_verifier
from crypto.statement import open_rotation
from service.audit.log import flush_pending, log_size, record
from service.audit.pending import record_reporter_event
from service.audit.rotation import rotate_log_key
from service.config import Settings
from service.staff.models import Role
from tests.factories import Border, add_staff, transaction
from tests.service.audit_util import fill
from tests.staff_util import api_login

ENTRIES = "/api/v1/audit/entries"
AUDIT_PATHS = [
    "/api/v1/audit/checkpoint",
    "/api/v1/audit/key",
    f"{ENTRIES}?start=0&end=1",
    "/api/v1/audit/proofs/inclusion?index=0&tree_size=1",
    "/api/v1/audit/proofs/consistency?first=0&second=1",
    "/api/v1/audit/statements",
]


@pytest.fixture
def auditor(web: TestClient, engine: Engine, settings: Settings) -> dict[str, str]:
    handle = add_staff(engine, settings, "audrey", Role.AUDITOR, [])
    return api_login(web, handle)


def _size(engine: Engine) -> int:
    with transaction(engine) as session:
        return log_size(session)


def test_auditor_reads_a_checkpoint_that_verifies_with_the_key(
    web: TestClient, engine: Engine, auditor: dict[str, str]
) -> None:
    key = web.get("/api/v1/audit/key", headers=auditor)
    assert key.status_code == 200
    assert key.headers["content-type"].startswith("text/plain")
    note = web.get("/api/v1/audit/checkpoint", headers=auditor)
    assert note.status_code == 200
    assert note.headers["content-type"].startswith("text/plain")
    cp = open_checkpoint(note.text, parse_verifier(key.text))
    assert cp.size == _size(engine)
    again = web.get("/api/v1/audit/checkpoint", headers=auditor)
    assert again.text == note.text  # the log did not grow: the same checkpoint


@pytest.mark.parametrize("who", ["reviewer_us", "reviewer_mx", "oversight"])
def test_reviewers_are_refused_every_audit_route(web: TestClient, border: Border, who: str) -> None:
    headers = api_login(web, getattr(border, who))
    for path in AUDIT_PATHS:
        response = web.get(path, headers=headers)
        assert response.status_code == 403, path
        assert response.json()["error"] == "forbidden"


def test_anonymous_and_forged_tokens_get_401(web: TestClient, border: Border) -> None:
    for headers in ({}, {"Authorization": "Bearer forged-token"}):
        for path in AUDIT_PATHS:
            assert web.get(path, headers=headers).status_code == 401, path


def test_supervisors_and_admins_check_the_log_but_only_auditors_read_entries(
    web: TestClient, engine: Engine, settings: Settings, border: Border
) -> None:
    admin = add_staff(engine, settings, "root2", Role.ADMIN, [])
    for handle in (border.supervisor_us, admin):
        headers = api_login(web, handle)
        assert web.get("/api/v1/audit/checkpoint", headers=headers).status_code == 200
        assert web.get("/api/v1/audit/key", headers=headers).status_code == 200
        # Who read which tip when is for auditors (as on the /audit pages).
        assert web.get(f"{ENTRIES}?start=0&end=5", headers=headers).status_code == 403


def test_entries_carry_canonical_bytes_and_the_read_is_audited(
    web: TestClient, engine: Engine, border: Border, auditor: dict[str, str]
) -> None:
    with transaction(engine) as session:
        record_reporter_event(
            session, "reporter.message_posted", day=date(2026, 11, 28), tip_id=border.reviewer_us.id
        )
    fill(engine, 3)
    with transaction(engine) as session:
        flush_pending(session, rng=random.Random(1))
    start = _size(engine) - 4
    response = web.get(f"{ENTRIES}?start={start}&end={start + 10}", headers=auditor)
    assert response.status_code == 200
    body = response.json()
    assert [e["index"] for e in body] == list(range(start, start + 4))  # end clamped
    for entry in body:
        canonical = json.loads(base64.b64decode(entry["canonical"]))
        assert canonical["index"] == entry["index"]
        assert canonical["action"] == entry["action"]
        assert canonical["details"] == entry["details"]
    assert body[-1]["time"] == "2026-11-28"
    assert body[-1]["actor"] == "reporter"
    assert body[0]["time"].endswith("Z")
    last = web.get(f"{ENTRIES}?start={start + 4}&end={start + 5}", headers=auditor).json()
    assert last[0]["action"] == "audit.read"
    assert last[0]["details"] == {"start": start, "end": start + 4}
    assert last[0]["actor"] not in ("system", "reporter")


@pytest.mark.parametrize(
    "query",
    [
        f"{ENTRIES}?start=5&end=2",
        f"{ENTRIES}?start=-1&end=2",
        f"{ENTRIES}?start=0&end=1001",
        f"{ENTRIES}?start=100000&end=100001",
        "/api/v1/audit/proofs/inclusion?index=3&tree_size=3",
        "/api/v1/audit/proofs/inclusion?index=0&tree_size=100000",
        "/api/v1/audit/proofs/inclusion?index=-1&tree_size=2",
        "/api/v1/audit/proofs/consistency?first=3&second=2",
        "/api/v1/audit/proofs/consistency?first=1&second=100000",
    ],
)
def test_bad_ranges_are_400(
    web: TestClient, engine: Engine, auditor: dict[str, str], query: str
) -> None:
    fill(engine, 4)
    before = _size(engine)
    response = web.get(query, headers=auditor)
    assert response.status_code == 400, response.text
    assert response.json()["error"] == "bad_range"
    assert _size(engine) == before  # a refused read leaves no entry


@pytest.mark.parametrize("query", [f"{ENTRIES}?start=a&end=2", f"{ENTRIES}?start=0"])
def test_malformed_parameters_are_422(web: TestClient, auditor: dict[str, str], query: str) -> None:
    assert web.get(query, headers=auditor).status_code == 422


def test_proofs_verify_against_the_signed_checkpoint(
    web: TestClient, engine: Engine, auditor: dict[str, str]
) -> None:
    fill(engine, 9)
    verifier = parse_verifier(web.get("/api/v1/audit/key", headers=auditor).text)
    old = open_checkpoint(web.get("/api/v1/audit/checkpoint", headers=auditor).text, verifier)
    fill(engine, 6)
    note = web.get("/api/v1/audit/checkpoint", headers=auditor).text
    new = open_checkpoint(note, verifier)
    entries = web.get(f"{ENTRIES}?start=0&end={new.size}", headers=auditor).json()
    for index in (0, 5, new.size - 1):
        leaf = leaf_hash(base64.b64decode(entries[index]["canonical"]))
        query = f"index={index}&tree_size={new.size}"
        body = web.get(f"/api/v1/audit/proofs/inclusion?{query}", headers=auditor).json()
        hashes = [base64.b64decode(h) for h in body["hashes"]]
        verify_inclusion(leaf, index, new.size, hashes, new.root)
        opened, _ = open_inclusion_proof(body["tlog_proof"], leaf, verifier)
        assert opened.size == new.size
    query = f"first={old.size}&second={new.size}"
    body = web.get(f"/api/v1/audit/proofs/consistency?{query}", headers=auditor).json()
    hashes = [base64.b64decode(h) for h in body["hashes"]]
    verify_consistency(old.size, new.size, hashes, old.root, new.root)
    unsigned = web.get(
        f"/api/v1/audit/proofs/inclusion?index=0&tree_size={new.size - 1}", headers=auditor
    ).json()
    assert unsigned["tlog_proof"] is None


def test_staff_actions_recorded_by_the_service_appear_in_the_log(
    web: TestClient, engine: Engine, border: Border, auditor: dict[str, str]
) -> None:
    with transaction(engine) as session:
        index = record(session, actor=border.supervisor_us.id, action="tip.viewed")
    entry = web.get(f"{ENTRIES}?start={index}&end={index + 1}", headers=auditor).json()[0]
    assert entry["actor"] == str(border.supervisor_us.id)
    assert entry["tip"] is None


def test_statements_after_a_key_rotation_lead_from_the_old_key_to_the_new_checkpoint(
    web: TestClient, engine: Engine, settings: Settings, auditor: dict[str, str]
) -> None:
    empty = web.get("/api/v1/audit/statements", headers=auditor)
    assert empty.status_code == 200
    assert empty.headers["content-type"].startswith("text/plain")
    assert empty.text == ""
    old = web.get("/api/v1/audit/key", headers=auditor).text
    with transaction(engine) as session:
        rotate_log_key(session, settings)
    answer = web.get("/api/v1/audit/statements", headers=auditor)
    assert answer.status_code == 200
    [line] = answer.text.splitlines()
    rotation = open_rotation(json.loads(line)["statement"])
    assert rotation.old == parse_verifier(old)
    new = web.get("/api/v1/audit/key", headers=auditor).text
    assert rotation.new == parse_verifier(new)
    note = web.get("/api/v1/audit/checkpoint", headers=auditor).text
    cp = open_checkpoint(note, rotation.new)  # signed by the new key, at the rotation's size + 1
    assert cp.size == rotation.head.size + 1
