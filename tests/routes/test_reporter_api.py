"""Reporter return visits over the API: receipt login, lockout, the view, messages."""

from __future__ import annotations

import json
import uuid

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import Engine, func, select

from crypto.receipt import new_receipt
from service.db import make_session_factory, session_scope, utcnow
from service.tips.conversation import post_staff_message
from service.tips.models import Message, ReceiptLockout, Tip
from tests.factories import Border, tip_json


def _file_tip(web: TestClient) -> str:
    response = web.post("/api/v1/tips", json=tip_json())
    assert response.status_code == 201
    return str(response.json()["receipt"])


def _login(web: TestClient, receipt: str) -> dict[str, str]:
    response = web.post("/api/v1/reporter/session", json={"receipt": receipt})
    assert response.status_code == 200, response.text
    return {"Authorization": f"Bearer {response.json()['token']}"}


def test_reporter_reads_a_staff_message_and_answers(
    web: TestClient, engine: Engine, border: Border
) -> None:
    receipt = _file_tip(web)
    # Typed sloppily, as a person would: lower case, spaces instead of hyphens, O for 0.
    sloppy = receipt.lower().replace("-", " ").replace("0", "o")
    headers = _login(web, sloppy)
    view = web.get("/api/v1/reporter/tip", headers=headers).json()
    assert view["status"] == "received"
    assert view["messages"] == []
    with session_scope(make_session_factory(engine)) as session:
        tip = session.scalars(select(Tip)).one()
        post_staff_message(
            session,
            tip,
            "¿Puede decirnos la fecha?",
            staff_id=border.reviewer_us.id,
            today=utcnow().date(),
        )
    answer = web.post(
        "/api/v1/reporter/messages", json={"body": "El 3 de octubre."}, headers=headers
    )
    assert answer.status_code == 201
    view = web.get("/api/v1/reporter/tip", headers=headers).json()
    assert [(m["from"], m["body"]) for m in view["messages"]] == [
        ("staff", "¿Puede decirnos la fecha?"),
        ("reporter", "El 3 de octubre."),
    ]


def test_unknown_and_wrong_receipts_get_the_same_answer(web: TestClient) -> None:
    receipt = _file_tip(web)
    wrong = receipt[:10] + ("A" if receipt[10] != "A" else "B") + receipt[11:]
    unknown = new_receipt().format()
    answers = [web.post("/api/v1/reporter/session", json={"receipt": r}) for r in (wrong, unknown)]
    assert [a.status_code for a in answers] == [401, 401]
    assert answers[0].json() == answers[1].json()


def test_receipt_login_locks_out_after_repeated_failures(web: TestClient, engine: Engine) -> None:
    receipt = _file_tip(web)
    wrong = receipt[:-1] + ("A" if receipt[-1] != "A" else "B")
    for _ in range(5):
        assert web.post("/api/v1/reporter/session", json={"receipt": wrong}).status_code == 401
    locked = web.post("/api/v1/reporter/session", json={"receipt": receipt})
    assert locked.status_code == 429
    assert locked.headers["retry-after"]
    with make_session_factory(engine)() as session:
        (lock,) = session.scalars(select(ReceiptLockout)).all()
    # Stored on a quarter hour, so it does not say when the failures happened.
    assert lock.locked_until is not None
    assert (lock.locked_until.minute % 15, lock.locked_until.second) == (0, 0)


@pytest.mark.parametrize(
    ("body", "status"),
    [
        ({"receipt": "not a receipt"}, 422),
        ({"receipt": "0" * 300}, 422),
        ({"wrong": "field"}, 422),
    ],
)
def test_malformed_logins_are_422(web: TestClient, body: dict[str, str], status: int) -> None:
    assert web.post("/api/v1/reporter/session", json=body).status_code == status


@pytest.mark.parametrize(
    "token",
    ["", "Bearer", "Bearer abc", "Bearer " + "A" * 200, "Basic x", "Bearer " + str(uuid.uuid4())],
)
def test_forged_and_missing_tokens_are_refused(web: TestClient, token: str) -> None:
    headers = {"Authorization": token} if token else {}
    assert web.get("/api/v1/reporter/tip", headers=headers).status_code == 401
    posted = web.post("/api/v1/reporter/messages", json={"body": "hi"}, headers=headers)
    assert posted.status_code == 401


def test_empty_and_oversized_messages_are_refused_and_not_stored(
    web: TestClient, engine: Engine
) -> None:
    headers = _login(web, _file_tip(web))
    for body in ("", "   ", "x" * 10_001):
        assert (
            web.post("/api/v1/reporter/messages", json={"body": body}, headers=headers).status_code
            == 422
        )
    with make_session_factory(engine)() as session:
        assert session.scalar(select(func.count()).select_from(Message)) == 0


def test_hostile_file_names_are_sanitised_end_to_end(web: TestClient) -> None:
    names = [
        "../../etc/passwd",
        "C:\\Users\\agent\\Desktop\\evil.exe",
        "nul\x00byte.jpg",
        "bell\x07and\x1bescape.txt",
        "\u202egnp.exe",
        "." * 3 + "hidden",
        "x" * 1000 + ".pdf",
    ]
    files: list[tuple[str, tuple[str | None, bytes, str]]] = [
        ("tip", (None, json.dumps(tip_json()).encode(), "application/json"))
    ]
    files += [("files", (name, b"evidence", "application/octet-stream")) for name in names]
    response = web.post("/api/v1/tips", files=files)
    assert response.status_code == 201, response.text
    stored = [a["name"] for a in response.json()["attachments"]]
    headers = _login(web, response.json()["receipt"])
    shown = [
        a["name"] for a in web.get("/api/v1/reporter/tip", headers=headers).json()["attachments"]
    ]
    assert shown == stored
    for name in stored:
        assert "/" not in name
        assert "\\" not in name
        assert not any(ord(c) < 32 or c in "\u202e\u202d\u2066\u2067\u2068\u2069" for c in name)
        assert not name.startswith(".")
        assert 0 < len(name) <= 200
    assert stored[0] == "passwd"
    assert stored[1] == "evil.exe"
    assert stored[-1].endswith(".pdf")
