"""Crypto-shredding that holds beyond the live tables (issue 13): after a purge, the purged tip's
envelopes as a backup or an old tuple holds them open with nothing that is left - the key table,
the keyring escrow, the recovery key - while the other tips of its bucket still open for their
audience and their reporter. Both backends."""

from __future__ import annotations

import shutil
import sqlite3
import stat
import subprocess
import uuid
from pathlib import Path

import pytest
from sqlalchemy import Engine, select, update
from sqlalchemy.orm import Session

from crypto.age import decrypt_bytes
from crypto.errors import CryptoError
from service.approvals import service as approvals
from service.audit.models import AuditEntry
from service.config import Settings
from service.db import make_session_factory, utcnow
from service.errors import NotFound
from service.instance.context import load_context
from service.retention.buckets import UNSEALED, open_bucket, unseal
from service.retention.keyring import keyring_path, read_keyring, write_keyring_escrow
from service.retention.models import RetentionKey
from service.retention.sweep import purge_job
from service.tips.keys import open_tip_keys
from service.tips.models import Envelope
from service.tips.reporter_auth import login_with_receipt
from tests.factories import in_tx, submit, tip_row
from tests.service.retention_util import RawEnvelope, key_table, raw_envelopes, run_sweep
from tests.service.workflow_util import Cast, cast


@pytest.fixture
def crew(engine: Engine, settings: Settings) -> Cast:
    return cast(engine, settings)


def _purge(engine: Engine, settings: Settings, crew: Cast, tip_id: uuid.UUID) -> None:
    asked = in_tx(
        engine,
        lambda s: approvals.request(s, crew.ana, tip_id, kind="purge", now=utcnow()),
    )
    in_tx(
        engine,
        lambda s: approvals.decide(s, crew.sam, asked.id, approve=True, now=utcnow()),
    )
    assert purge_job(make_session_factory(engine), settings) == 1


def _sqlite_copy(engine: Engine, tmp_path: Path) -> list[RawEnvelope] | None:
    """SQLite: the envelopes as a file-level backup taken now holds them (after a checkpoint)."""
    if engine.dialect.name != "sqlite":
        return None
    with engine.connect() as connection:
        connection.exec_driver_sql("PRAGMA wal_checkpoint(TRUNCATE)")
    copy = tmp_path / "backup.db"
    shutil.copyfile(str(engine.url.database), copy)
    with sqlite3.connect(copy) as db:
        rows = db.execute("SELECT tip_id, kind, bucket, data FROM envelopes").fetchall()
    return [RawEnvelope(uuid.UUID(hex=t), k, b, bytes(d)) for t, k, b, d in rows]


def _on_disk(engine: Engine) -> bytes:
    database = Path(str(engine.url.database))
    wal = Path(f"{database}-wal")
    return database.read_bytes() + (wal.read_bytes() if wal.exists() else b"")


def _key_table_file(engine: Engine) -> object:
    if engine.dialect.name != "postgresql":
        return None
    with engine.connect() as connection:
        return connection.exec_driver_sql("SELECT pg_relation_filenode('retention_keys')").scalar()


def _opens(row: RawEnvelope, keys: dict[str, bytes], identities: list[str]) -> bool:
    for key in keys.values():
        try:
            age_file = unseal(key, row.tip_id, row.kind, row.bucket, row.data)
        except CryptoError:
            continue
        try:
            decrypt_bytes(age_file, identities)
        except CryptoError:
            return False  # unsealed, but not addressed to these identities
        return True
    return False


def test_a_purged_tip_opens_with_nothing_left_while_its_bucket_neighbours_still_open(
    engine: Engine, settings: Settings, crew: Cast, tmp_path: Path
) -> None:
    doomed, _ = submit(engine, settings)
    kept, kept_receipt = submit(engine, settings, contact="Signal +1 555 0100")
    before = raw_envelopes(engine, doomed)
    assert {r.bucket for r in before} == {open_bucket(utcnow().date())}
    assert {r.bucket for r in raw_envelopes(engine, kept)} == {r.bucket for r in before}
    backup = _sqlite_copy(engine, tmp_path)
    assert backup is None or {r.tip_id for r in backup} == {doomed, kept}
    recovery = crew.border.recovery_identity
    staff = [crew.sam.identity, crew.ana.identity, recovery]
    # Before the purge, the rows open with the key table (the test can fail).
    assert all(_opens(r, key_table(engine), staff) for r in before if r.kind == "staff")

    old_key = key_table(engine)[before[0].bucket]
    assert engine.dialect.name != "sqlite" or old_key in _on_disk(engine)  # the test can fail
    node = _key_table_file(engine)
    _purge(engine, settings, crew, doomed)

    left = key_table(engine)
    assert old_key not in left.values()
    if engine.dialect.name == "sqlite":  # zeroed in the database file, and the WAL is empty
        assert old_key not in _on_disk(engine)
    else:  # VACUUM FULL wrote the table to a new file
        assert _key_table_file(engine) != node
    with make_session_factory(engine)() as session:
        escrow = read_keyring(keyring_path(settings), [recovery])
    assert escrow == left  # the escrow is the table, in full
    for rows in (before, [r for r in backup or [] if r.tip_id == doomed]):
        for row in rows:
            assert not _opens(row, left, staff)
            assert not _opens(row, escrow, staff)
    # The purged tip's old key is nowhere: not in the table, not in the escrow.
    assert before[0].bucket in left
    # Its neighbour was re-sealed under the new key: audience, recovery and reporter open it.
    with make_session_factory(engine)() as session:
        for identity in (crew.sam.identity, recovery):
            assert open_tip_keys(session, kept, identity).case.startswith("AGE-SECRET-KEY-1")
        with pytest.raises(NotFound):
            open_tip_keys(session, doomed, recovery)
        destroyed = session.scalars(
            select(AuditEntry.tip_id).where(AuditEntry.action == "retention.key_destroyed")
        ).all()
    assert destroyed == [None]  # the bucket name only, no tip

    def reporter(session: Session) -> str | None:
        ctx = load_context(session, settings)
        return login_with_receipt(session, ctx, kept_receipt, now=utcnow()).token

    assert in_tx(engine, reporter) is not None
    assert tip_row(engine, doomed).purged


def test_the_keyring_escrow_is_a_0600_age_file_the_age_cli_opens_with_the_recovery_key(
    engine: Engine, settings: Settings, crew: Cast, tmp_path: Path
) -> None:
    submit(engine, settings)
    with make_session_factory(engine)() as session:
        path = write_keyring_escrow(session, settings)
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    identity = tmp_path / "recovery.txt"
    identity.write_text(crew.border.recovery_identity + "\n")
    opened = subprocess.run(
        ["age", "--decrypt", "-i", str(identity), str(path)], capture_output=True, check=True
    )
    assert open_bucket(utcnow().date()).encode() in opened.stdout
    assert [p.name for p in path.parent.iterdir() if p.name.endswith(".tmp")] == []


def test_envelopes_stored_before_buckets_open_until_the_sweep_seals_them(
    engine: Engine, settings: Settings, crew: Cast
) -> None:
    tip_id, receipt = submit(engine, settings)
    with make_session_factory(engine)() as session:  # what the migration leaves: age files as-is
        legacy = {r.kind: _age_file(session, r) for r in raw_envelopes(engine, tip_id)}
    with engine.begin() as connection:
        for kind, data in legacy.items():
            connection.execute(
                update(Envelope)
                .where(Envelope.tip_id == tip_id, Envelope.kind == kind)
                .values(bucket=UNSEALED, data=data)
            )

    def reporter(session: Session) -> str | None:
        ctx = load_context(session, settings)
        return login_with_receipt(session, ctx, receipt, now=utcnow()).token

    assert in_tx(engine, reporter) is not None
    with make_session_factory(engine)() as session:
        assert open_tip_keys(session, tip_id, crew.sam.identity)
    assert run_sweep(engine, settings, utcnow()).moved == 2
    assert {r.bucket for r in raw_envelopes(engine, tip_id)} == {open_bucket(utcnow().date())}
    assert in_tx(engine, reporter) is not None
    with make_session_factory(engine)() as session:
        assert open_tip_keys(session, tip_id, crew.sam.identity)


def _age_file(session: Session, row: RawEnvelope) -> bytes:
    key = session.get_one(RetentionKey, row.bucket).key
    return unseal(key, row.tip_id, row.kind, row.bucket, row.data)
