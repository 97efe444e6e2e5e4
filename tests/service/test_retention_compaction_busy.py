"""Attack (review of issue 13), SQLite: a reader holds a read transaction (a page being served,
a `probity backup` snapshot in progress) while the worker carries out a purge. The key table's
compaction (`wal_checkpoint(TRUNCATE)`) could not finish, its result was ignored, and no later
job tried again: the destroyed bucket key stayed in the database file / WAL, next to copies of
the purged envelopes, so a file-level copy taken afterwards still opened the purged tip. The
compaction also held every writer up for the whole busy timeout meanwhile. Compaction must not
block writers on a reader, and the worker must retry it until it has gone through."""

from __future__ import annotations

import sqlite3
import time
from pathlib import Path

import pytest
from sqlalchemy import Engine

from service.approvals import service as approvals
from service.config import Settings
from service.db import make_session_factory, utcnow
from service.retention.sweep import purge_job, retention_job
from tests.factories import in_tx, submit
from tests.service.retention_util import key_table
from tests.service.workflow_util import cast


def _on_disk(engine: Engine) -> bytes:
    database = Path(str(engine.url.database))
    wal = Path(f"{database}-wal")
    return database.read_bytes() + (wal.read_bytes() if wal.exists() else b"")


def test_a_destroyed_key_leaves_the_files_once_the_reader_is_gone(
    engine: Engine, settings: Settings
) -> None:
    if engine.dialect.name != "sqlite":
        pytest.skip("PostgreSQL: tests/service/test_retention_compaction_pg.py")
    crew = cast(engine, settings)
    submit(engine, settings)  # a neighbour in the bucket: its key is replaced, not deleted
    tip_id, _ = submit(engine, settings)
    old = key_table(engine)
    asked = in_tx(
        engine, lambda s: approvals.request(s, crew.ana, tip_id, kind="purge", now=utcnow())
    )
    in_tx(engine, lambda s: approvals.decide(s, crew.sam, asked.id, approve=True, now=utcnow()))

    reader = sqlite3.connect(str(engine.url.database))
    try:
        reader.execute("BEGIN")
        reader.execute("SELECT count(*) FROM tips").fetchall()
        started = time.monotonic()
        assert purge_job(make_session_factory(engine), settings) == 1
        assert time.monotonic() - started < 8  # writers were not held for the busy timeout
    finally:
        reader.rollback()
        reader.close()
    retention_job(make_session_factory(engine), settings)  # the worker's next run
    files = _on_disk(engine)
    assert old
    for bucket, key in old.items():
        assert key not in files, bucket
