"""Attack (review of issue 13), PostgreSQL: a transaction that read the key table (a receipt
login, a tip view) is still open past the lock timeout while the worker carries out a purge.
`VACUUM FULL retention_keys` then failed after the purge had committed, and the job stopped there:
the keyring escrow - the copy operators take off the server - was not rewritten and still held
the destroyed key, and no later run compacted the key table again, so the old key stayed in its
file. The escrow is rewritten whatever the compaction does, and every run retries it."""

from __future__ import annotations

import pytest
from sqlalchemy import Engine, text

from service.approvals import service as approvals
from service.config import Settings
from service.db import make_session_factory, utcnow
from service.retention.buckets import open_bucket
from service.retention.keyring import keyring_path, read_keyring
from service.retention.sweep import purge_job, retention_job
from tests.factories import in_tx, submit
from tests.service.retention_util import key_table
from tests.service.workflow_util import cast


def _filenode(engine: Engine) -> object:
    with engine.connect() as connection:
        return connection.exec_driver_sql("SELECT pg_relation_filenode('retention_keys')").scalar()


def test_a_blocked_compaction_still_rewrites_the_escrow_and_is_retried(
    engine: Engine, cheap_kdf_env: Settings
) -> None:
    if engine.dialect.name != "postgresql":
        pytest.skip("SQLite: tests/service/test_retention_compaction_busy.py")
    settings = cheap_kdf_env
    crew = cast(engine, settings)
    submit(engine, settings)  # a neighbour: the bucket's key is replaced, not deleted
    tip_id, _ = submit(engine, settings)
    retention_job(make_session_factory(engine), settings)  # the escrow holds today's keys
    old = key_table(engine)
    asked = in_tx(
        engine, lambda s: approvals.request(s, crew.ana, tip_id, kind="purge", now=utcnow())
    )
    in_tx(engine, lambda s: approvals.decide(s, crew.sam, asked.id, approve=True, now=utcnow()))
    before = _filenode(engine)

    holder = engine.connect()
    try:
        holder.execute(text("SELECT count(*) FROM retention_keys")).all()  # a reader
        assert purge_job(make_session_factory(engine), settings) == 1
        escrowed = read_keyring(keyring_path(settings), [crew.border.recovery_identity])
        bucket = open_bucket(utcnow().date())  # the purged tip's: its key was replaced
        assert escrowed[bucket] != old[bucket]
    finally:
        holder.rollback()
        holder.close()
    assert _filenode(engine) == before  # held up: not compacted yet
    retention_job(make_session_factory(engine), settings)  # the next run
    assert _filenode(engine) != before  # rewritten: the old key's tuple is in no live file
