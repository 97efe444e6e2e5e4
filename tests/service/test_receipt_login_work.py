"""A receipt whose lookup id exists but whose secret is wrong costs exactly the work of an unknown
one: the same SQL statements, the same rows read, the same writes (lockout accounting), so the
answer's timing does not say whether a lookup id is taken."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

from sqlalchemy import Engine, event, select
from sqlalchemy.orm import Session

from crypto.receipt import Receipt, new_receipt, parse_receipt
from service.config import Settings
from service.db import make_session_factory, session_scope, utcnow
from service.instance.context import load_context
from service.tips.models import ReceiptLockout
from service.tips.reporter_auth import login_with_receipt
from tests.factories import seed_border, submit


@contextmanager
def _work(engine: Engine, session: Session) -> Iterator[dict[str, list[Any]]]:
    """Statements sent and ORM objects loaded while the block runs."""
    seen: dict[str, list[Any]] = {"sql": [], "loaded": [], "flushed": []}

    def statement(_conn: Any, _cursor: Any, sql: str, *_: Any) -> None:
        seen["sql"].append(sql)

    def loaded(_session: Session, instance: object) -> None:
        seen["loaded"].append(type(instance).__name__)

    def flushed(flushing: Session, _context: Any, _instances: Any) -> None:
        seen["flushed"].append(sorted(type(o).__name__ for o in [*flushing.new, *flushing.dirty]))

    event.listen(engine, "before_cursor_execute", statement)
    event.listen(session, "loaded_as_persistent", loaded)
    event.listen(session, "before_flush", flushed)
    try:
        yield seen
    finally:
        event.remove(engine, "before_cursor_execute", statement)
        event.remove(session, "loaded_as_persistent", loaded)
        event.remove(session, "before_flush", flushed)


def _attempt(engine: Engine, settings: Settings, receipt: Receipt) -> dict[str, list[Any]]:
    with session_scope(make_session_factory(engine)) as session:
        ctx = load_context(session, settings)
        with _work(engine, session) as seen:
            assert login_with_receipt(session, ctx, receipt.format(), now=utcnow()).token is None
    return seen


def test_a_taken_lookup_id_with_a_wrong_secret_does_the_work_of_an_unknown_one(
    engine: Engine, settings: Settings
) -> None:
    seed_border(engine, settings)
    _, receipt_text = submit(engine, settings)
    real = parse_receipt(receipt_text)
    wrong_secret = Receipt(real.lookup_id, new_receipt().secret)
    unknown = new_receipt()
    # A first failure of each, then a second (the lockout row exists for both by then).
    for _ in range(2):
        taken = _attempt(engine, settings, wrong_secret)
        missing = _attempt(engine, settings, unknown)
        assert taken["sql"] == missing["sql"]
        assert taken["loaded"] == missing["loaded"]
        assert taken["flushed"] == missing["flushed"]
    with make_session_factory(engine)() as session:
        failures = session.scalars(select(ReceiptLockout.failures)).all()
    assert sorted(failures) == [2, 2]
