"""The worker's audit flush commits batch by batch: a flush that dies midway keeps the batches
it committed, the backlog shrinks, and the log stays contiguous and verifiable."""

from __future__ import annotations

import threading
import uuid
from datetime import date

import pytest
from sqlalchemy import Engine, func, select, text
from sqlalchemy.exc import DBAPIError, OperationalError

from service.audit.log import log_size, pending_count
from service.audit.models import AuditEntry
from service.audit.pending import record_reporter_events
from service.config import Settings
from service.db import make_session_factory
from service.worker import jobs, worker_engine
from tests.factories import transaction
from tests.pg_faults import faulty_proxy

BACKLOG = 500
BATCH = 100
REFUSED_FROM = 250  # the database refuses the entry at this index: batch 3 fails


def _backlog(engine: Engine) -> None:
    with transaction(engine) as session:
        for day in (date(2026, 11, 28), date(2026, 11, 29)):
            events: list[tuple[str, dict[str, uuid.UUID]]] = [("reporter.message_posted", {})]
            events *= BACKLOG // 2
            record_reporter_events(session, events, day=day, tip_id=uuid.uuid4())


def _refuse_entries_from(engine: Engine, index: int) -> None:
    """A real failure inside the flush: the database refuses one entry midway."""
    with engine.begin() as connection:
        if engine.dialect.name == "sqlite":
            connection.exec_driver_sql(
                "CREATE TRIGGER refuse_late BEFORE INSERT ON audit_entries "
                f"WHEN NEW.\"index\" >= {index} BEGIN SELECT RAISE(ABORT, 'disk trouble'); END"
            )
        else:
            connection.exec_driver_sql(
                f'ALTER TABLE audit_entries ADD CONSTRAINT refuse_late CHECK ("index" < {index})'
            )


def _allow_entries(engine: Engine) -> None:
    with engine.begin() as connection:
        if engine.dialect.name == "sqlite":
            connection.exec_driver_sql("DROP TRIGGER refuse_late")
        else:
            connection.exec_driver_sql("ALTER TABLE audit_entries DROP CONSTRAINT refuse_late")


def _flush(engine: Engine, settings: Settings) -> int:
    """The worker's flush job, as `probity worker` runs it."""
    (job,) = [j for j in jobs(settings) if j.name == "audit.flush"]
    return job.run(make_session_factory(engine), settings)


def _sizes(engine: Engine) -> tuple[int, int]:
    with transaction(engine) as session:
        return log_size(session), pending_count(session)


def test_a_flush_that_fails_midway_keeps_the_batches_it_committed(
    engine: Engine, settings: Settings
) -> None:
    settings = settings.model_copy(update={"audit_flush_batch": BATCH})
    _backlog(engine)
    _refuse_entries_from(engine, REFUSED_FROM)
    with pytest.raises(DBAPIError):
        _flush(engine, settings)
    # Two whole batches are in the log; the third rolled back alone.
    assert _sizes(engine) == (2 * BATCH, BACKLOG - 2 * BATCH)
    _allow_entries(engine)
    assert _flush(engine, settings) == BACKLOG - 2 * BATCH
    assert _sizes(engine) == (BACKLOG, 0)
    with transaction(engine) as session:
        indices = list(session.scalars(select(AuditEntry.index).order_by(AuditEntry.index)))
        days = list(session.scalars(select(AuditEntry.time).order_by(AuditEntry.index)))
        assert session.scalar(select(func.count(func.distinct(AuditEntry.canonical)))) == BACKLOG
    assert indices == list(range(BACKLOG))
    assert days == sorted(days)  # the earlier day's events went first


def test_the_flush_stops_after_the_backlog_it_found(engine: Engine, settings: Settings) -> None:
    settings = settings.model_copy(update={"audit_flush_batch": BATCH})
    _backlog(engine)
    assert _flush(engine, settings) == BACKLOG
    assert _sizes(engine) == (BACKLOG, 0)
    with engine.connect() as connection:  # nothing left to move: no empty batch appended
        assert connection.execute(text("SELECT COUNT(*) FROM audit_pending")).scalar() == 0


@pytest.mark.parametrize("database_url", ["postgresql"], indirect=True)
def test_a_stalled_network_fails_the_workers_job_instead_of_hanging_it(
    engine: Engine, settings: Settings, database_url: str
) -> None:
    _backlog(engine)
    limits = settings.db.model_copy(update={"worker_answer_timeout_seconds": 2})
    with faulty_proxy(database_url) as proxy:
        url = proxy.url_for(database_url)
        worker = settings.model_copy(update={"database_url": url, "db": limits})
        worker_db = worker_engine(worker)
        try:
            assert (
                _flush(worker_db, worker.model_copy(update={"audit_flush_batch": 100})) == BACKLOG
            )
            _backlog(engine)
            proxy.stall()  # accepts bytes, forwards nothing, never resets
            outcome: list[BaseException | int] = []

            def job() -> None:
                try:
                    outcome.append(_flush(worker_db, worker))
                except BaseException as exc:
                    outcome.append(exc)

            runner = threading.Thread(target=job, daemon=True)
            runner.start()
            runner.join(timeout=20)
            assert not runner.is_alive(), "the worker's job hung on a stalled network"
            assert isinstance(outcome[0], OperationalError)
            proxy.resume()
            assert _flush(worker_db, worker) == BACKLOG  # no restart: the pool reconnects
        finally:
            worker_db.dispose()
