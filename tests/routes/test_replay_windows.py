"""A resubmitted form or a retried API call gets its receipt back for a short window only
(minutes for the form, a day for the API); after it, a clear 410 and no second tip, and the
worker deletes the rows. The stored expiry is coarse: it does not say when the reporter sent."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from fastapi.testclient import TestClient
from sqlalchemy import Engine, select, update

from routes import csrf
from service.config import Settings
from service.db import make_session_factory, session_scope
from service.tips.idempotency import REPLAY_GRACE
from service.tips.models import IdempotencyRecord, Tip
from service.worker import run_once
from tests.factories import tip_json
from tests.routes.reporter_pages_util import NO_FILE, count, receipt_in, report_data, report_form

KEY = {"Idempotency-Key": "retry-key-0123456789abcdef"}


def _expiries(engine: Engine) -> list[datetime]:
    with make_session_factory(engine)() as session:
        found = session.scalars(select(IdempotencyRecord.expires_at)).all()
    return [e if e.tzinfo else e.replace(tzinfo=UTC) for e in found]


def _expire(engine: Engine, ago: timedelta) -> None:
    """Time passes, behind the app's back: every window closed `ago`."""
    with session_scope(make_session_factory(engine)) as session:
        session.execute(update(IdempotencyRecord).values(expires_at=datetime.now(UTC) - ago))


def test_the_form_replays_its_receipt_for_minutes_then_says_it_expired(
    web: TestClient, engine: Engine, settings: Settings
) -> None:
    form = report_form(web)
    data = report_data(form)
    first = web.post("/report", data=data, files=NO_FILE)
    assert first.status_code == 201
    again = web.post("/report", data=data, files=NO_FILE)
    assert again.status_code == 200
    assert receipt_in(again.text) == receipt_in(first.text)
    (expiry,) = _expiries(engine)
    now = datetime.now(UTC)
    window = timedelta(minutes=settings.form_replay_minutes)
    assert now + window <= expiry <= now + 2 * window
    assert (expiry.minute % 10, expiry.second, expiry.microsecond) == (0, 0, 0)
    _expire(engine, timedelta(minutes=1))
    late = web.post("/report", data=data, files=NO_FILE)
    assert late.status_code == 410
    assert "This form has expired" in late.text
    assert receipt_in(first.text) not in late.text
    assert count(engine, Tip) == 1


def test_the_api_replays_for_a_day_then_answers_410(web: TestClient, engine: Engine) -> None:
    first = web.post("/api/v1/tips", json=tip_json(), headers=KEY)
    assert first.status_code == 201
    assert web.post("/api/v1/tips", json=tip_json(), headers=KEY).json() == first.json()
    (expiry,) = _expiries(engine)
    now = datetime.now(UTC)
    assert now + timedelta(days=1) <= expiry <= now + timedelta(days=2)
    assert (expiry.hour, expiry.minute, expiry.second) == (0, 0, 0)  # a date, like created_on
    _expire(engine, timedelta(minutes=1))
    late = web.post("/api/v1/tips", json=tip_json(), headers=KEY)
    assert late.status_code == 410
    assert late.json()["error"] == "replay_expired"
    assert count(engine, Tip) == 1


def test_the_worker_deletes_rows_once_no_form_token_can_replay_them(
    web: TestClient, engine: Engine, settings: Settings
) -> None:
    assert REPLAY_GRACE >= csrf.TTL  # a token from before the submission has expired by then
    for n in range(3):
        body = tip_json(location=f"checkpoint {n}")
        key = {"Idempotency-Key": f"retry-key-{n}-0123456789abcdef"}
        assert web.post("/api/v1/tips", json=body, headers=key).status_code == 201
    assert run_once(engine, settings)["tips.idempotency"] == 0
    _expire(engine, timedelta(minutes=1))
    assert run_once(engine, settings)["tips.idempotency"] == 0  # expired, not yet forgotten
    _expire(engine, REPLAY_GRACE + timedelta(minutes=1))
    assert run_once(engine, settings)["tips.idempotency"] == 3
    assert _expiries(engine) == []
