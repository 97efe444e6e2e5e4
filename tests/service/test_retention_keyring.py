"""The keyring escrow (what restores use instead of the `retention_keys` table) and
`probity compartment retention`, with their hostile inputs. Both backends."""

from __future__ import annotations

from pathlib import Path

import pytest
from sqlalchemy import Engine, delete, func, select
from typer.testing import CliRunner

from crypto.age import generate_identity
from service.audit.models import AuditEntry
from service.cli import app
from service.config import Settings
from service.db import make_session_factory, session_scope
from service.errors import Conflict, InvalidInput
from service.retention.keyring import (
    keyring_path,
    load_keyring,
    read_keyring,
    write_keyring_escrow,
)
from service.retention.models import RetentionKey
from service.worker import run_once
from tests.factories import Border, submit
from tests.service.retention_util import key_table

runner = CliRunner()


def test_the_escrow_restores_every_key_into_an_empty_table_only(
    engine: Engine, settings: Settings, border: Border
) -> None:
    submit(engine, settings)
    backup_identity, backup_recipient = generate_identity()
    settings = settings.model_copy(update={"backup_recipients": f" {backup_recipient} ,"})
    factory = make_session_factory(engine)
    with session_scope(factory) as session:
        path = write_keyring_escrow(session, settings)
    keys = key_table(engine)
    assert keys
    assert read_keyring(path, [border.recovery_identity]) == keys
    assert read_keyring(path, [backup_identity]) == keys  # PROBITY_BACKUP_RECIPIENTS
    with session_scope(factory) as session, pytest.raises(Conflict):
        load_keyring(session, keys)  # the table is not empty: nothing is overwritten
    with session_scope(factory) as session:
        session.execute(delete(RetentionKey))
    with session_scope(factory) as session:
        assert load_keyring(session, read_keyring(path, [border.recovery_identity])) == len(keys)
    assert key_table(engine) == keys


def test_a_wrong_identity_a_tampered_file_or_bad_recipients_are_refused(
    engine: Engine, settings: Settings, border: Border, tmp_path: Path
) -> None:
    submit(engine, settings)
    with session_scope(make_session_factory(engine)) as session:
        path = write_keyring_escrow(session, settings)
    stranger, _ = generate_identity()
    with pytest.raises(InvalidInput):
        read_keyring(path, [stranger])
    tampered = tmp_path / "tampered.age"
    data = bytearray(path.read_bytes())
    data[-5] ^= 1
    tampered.write_bytes(bytes(data))
    with pytest.raises(InvalidInput):
        read_keyring(tampered, [border.recovery_identity])
    with pytest.raises(InvalidInput):
        read_keyring(tmp_path / "missing.age", [border.recovery_identity])
    bad = settings.model_copy(update={"backup_recipients": "age1notarecipient"})
    with session_scope(make_session_factory(engine)) as session, pytest.raises(InvalidInput):
        write_keyring_escrow(session, bad)
    assert read_keyring(path, [border.recovery_identity])  # the old file is intact
    with session_scope(make_session_factory(engine)) as session:
        session.execute(delete(RetentionKey))
    with session_scope(make_session_factory(engine)) as session, pytest.raises(InvalidInput):
        load_keyring(session, {"open-2026-12": b"short"})


def test_compartment_retention_cli_shows_sets_and_resets(
    cheap_kdf_env: Settings, engine: Engine, border: Border
) -> None:
    shown = runner.invoke(app, ["compartment", "retention", "us"])
    assert shown.exit_code == 0, shown.output
    assert "365 days (PROBITY_RETENTION_DAYS)" in shown.output
    set_ = runner.invoke(app, ["compartment", "retention", "us", "--days", "730"])
    assert set_.exit_code == 0, set_.output
    assert "730 days." in set_.output
    assert "730 days." in runner.invoke(app, ["compartment", "retention", "us"]).output
    reset = runner.invoke(app, ["compartment", "retention", "us", "--default"])
    assert "365 days (PROBITY_RETENTION_DAYS)" in reset.output
    for bad in (["nowhere", "--days", "30"], ["us", "--days", "0"], ["us", "--days", "x"]):
        refused = runner.invoke(app, ["compartment", "retention", *bad])
        assert refused.exit_code != 0, bad
        assert "Traceback" not in refused.output
    with make_session_factory(engine)() as session:
        count = select(func.count()).where(AuditEntry.action == "compartment.retention_set")
        assert session.scalar(count) == 2


def test_the_worker_runs_the_retention_jobs_and_keeps_the_escrow_current(
    engine: Engine, settings: Settings, border: Border
) -> None:
    submit(engine, settings)
    done = run_once(engine, settings)
    assert {"retention.purge", "retention.sweep"} <= set(done)
    keys = key_table(engine)
    assert len(keys) == 2  # this month's bucket (and next month's, made ahead)
    assert read_keyring(keyring_path(settings), [border.recovery_identity]) == keys
