"""service.tips.receiving without HTTP: the rules every transport shares.

An upload's receipt is drawn when its first file begins and checked again when it is stored;
an idempotency key replays the stored receipt and stores nothing, whichever way the tip came.
"""

from __future__ import annotations

from datetime import timedelta
from functools import partial

import pytest
from sqlalchemy import Engine, func, select

from crypto import receipt as receipts
from crypto.receipt import Receipt, parse_receipt
from service.config import Settings
from service.db import make_session_factory, session_scope, utcnow
from service.errors import Conflict
from service.instance.context import InstanceContext, load_context
from service.tips.intake import IntakeResult
from service.tips.models import Attachment, Tip
from service.tips.receiving import TipIntake
from service.tips.reporter_auth import login_with_receipt
from service.tips.schemas import TipSubmission
from tests.factories import seed_border, tip_json

KEY = "retry-key-0123456789"


@pytest.fixture
def ctx(engine: Engine, settings: Settings) -> InstanceContext:
    seed_border(engine, settings)
    with session_scope(make_session_factory(engine)) as session:
        return load_context(session, settings)


def _intake(engine: Engine, settings: Settings, ctx: InstanceContext, key: str | None) -> TipIntake:
    return TipIntake(
        partial(session_scope, make_session_factory(engine)),
        ctx,
        key=key,
        window=timedelta(hours=1),
        spool_dir=settings.data_dir,
    )


def _count(engine: Engine, model: type[Tip] | type[Attachment]) -> int:
    with make_session_factory(engine)() as session:
        return session.scalar(select(func.count()).select_from(model)) or 0


def test_an_upload_whose_receipt_was_taken_meanwhile_stores_with_a_fresh_one(
    engine: Engine, settings: Settings, ctx: InstanceContext, monkeypatch: pytest.MonkeyPatch
) -> None:
    real = receipts.new_receipt
    draws: list[Receipt] = []  # what the next draws return, before real ones
    drawn: list[Receipt] = []

    def draw() -> Receipt:
        receipt = draws.pop() if draws else real()
        drawn.append(receipt)
        return receipt

    monkeypatch.setattr("service.tips.intake.new_receipt", draw)
    upload = _intake(engine, settings, ctx, None)
    upload.begin(TipSubmission.model_validate(tip_json()), {"tip": ["{}"]})
    sink = upload.open_file("photo.bin")  # the upload's receipt is drawn now
    sink.write(b"evidence")
    sink.close()
    (first,) = drawn
    # Meanwhile a JSON tip draws the same lookup id (1 in 10^12 per stored tip) and is stored.
    draws.append(Receipt(first.lookup_id, real().secret))
    other = _intake(engine, settings, ctx, None)
    other.begin(TipSubmission.model_validate(tip_json()), b"{}")
    assert other.finish().tip_id is not None
    result = upload.finish()
    upload.close()
    assert parse_receipt(result.receipt).lookup_id != first.lookup_id
    assert (_count(engine, Tip), _count(engine, Attachment)) == (2, 1)
    with session_scope(make_session_factory(engine)) as session:  # the new receipt opens it
        assert login_with_receipt(session, ctx, result.receipt, now=utcnow()).token


@pytest.mark.parametrize("with_file", [False, True])
def test_a_replayed_key_returns_the_receipt_and_stores_nothing(
    engine: Engine, settings: Settings, ctx: InstanceContext, with_file: bool
) -> None:
    results: list[IntakeResult | None] = []
    for fields in ({"tip": ["same"]}, {"tip": ["same"]}, {"tip": ["other"]}):
        tip = _intake(engine, settings, ctx, KEY)
        tip.begin(TipSubmission.model_validate(tip_json()), fields)
        if with_file:
            sink = tip.open_file("a.txt")
            sink.write(b"the same bytes")
            sink.close()
        try:
            results.append(tip.finish())
        except Conflict:
            results.append(None)
        finally:
            tip.close()
    first, replay, other = results
    assert first is not None
    assert first.tip_id is not None
    assert replay is not None
    assert replay.tip_id is None
    assert replay.receipt == first.receipt
    assert other is None  # the same key with another submission: 409
    assert _count(engine, Tip) == 1
    assert _count(engine, Attachment) == (1 if with_file else 0)
