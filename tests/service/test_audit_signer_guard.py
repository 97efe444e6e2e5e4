"""The log signer refuses to sign a rewritten history (issue 10, item 4).

Attacks are made behind the application's back with direct SQL, as someone holding the database
(but not the keys directory) would: triggers dropped, an entry edited, `audit_nodes` recomputed
so the stored tree is self-consistent, checkpoint rows deleted or swapped.
"""

from __future__ import annotations

import json
import stat
from pathlib import Path

import pytest
from sqlalchemy import Engine, func, select, text
from typer.testing import CliRunner

from crypto.checkpoint import Checkpoint, sign_checkpoint
from crypto.note import generate_signer
from service.audit.alarm import ALARM_FILE, SIGNED_RECORD_FILE, read_alarm
from service.audit.checkpoints import sign_new_checkpoint
from service.audit.models import AuditCheckpoint
from service.cli import app
from service.config import Settings
from service.errors import HistoryMismatch
from service.logging import configure_logging
from service.worker import run_once
from tests.factories import init_instance, transaction
from tests.service.audit_util import drop_triggers, edit_entry, fill, rebuild_nodes

runner = CliRunner()


@pytest.fixture
def signed(cheap_kdf_env: Settings, engine: Engine) -> Settings:
    """An instance whose log of 40+ entries has been signed once by the worker's job."""
    init_instance(engine, cheap_kdf_env)
    fill(engine, 40)
    sign(engine, cheap_kdf_env)
    return cheap_kdf_env


def sign(engine: Engine, settings: Settings) -> int | None:
    with transaction(engine) as session:
        signed = sign_new_checkpoint(session, settings)
    return None if signed is None else signed.size


def checkpoint_sizes(engine: Engine) -> list[int]:
    with engine.connect() as connection:
        return list(connection.scalars(select(AuditCheckpoint.size).order_by(AuditCheckpoint.size)))


def refusal(engine: Engine, signed: Settings) -> str:
    """Why the signer refuses to sign (it must refuse)."""
    with pytest.raises(HistoryMismatch) as caught:
        sign(engine, signed)
    return caught.value.reason


def test_the_signer_remembers_what_it_signed_in_a_private_file(
    signed: Settings, engine: Engine
) -> None:
    record = signed.effective_keys_dir / SIGNED_RECORD_FILE
    with engine.connect() as connection:
        newest = connection.scalar(
            select(AuditCheckpoint.note).order_by(AuditCheckpoint.size.desc()).limit(1)
        )
    assert record.read_text() == newest
    assert stat.S_IMODE(record.stat().st_mode) == 0o600
    fill(engine, 3)
    assert sign(engine, signed) is not None
    assert read_alarm(signed.effective_keys_dir) is None


def test_a_rolled_back_signature_is_not_remembered(signed: Settings, engine: Engine) -> None:
    record = signed.effective_keys_dir / SIGNED_RECORD_FILE
    before = record.read_text()
    fill(engine, 2)
    with pytest.raises(RuntimeError), transaction(engine) as session:  # noqa: PT012
        assert sign_new_checkpoint(session, signed) is not None
        raise RuntimeError("the request failed after signing")
    assert record.read_text() == before
    assert sign(engine, signed) is not None  # and the next signature is not an alarm


def test_an_entry_edited_with_audit_nodes_recomputed_is_never_signed(
    signed: Settings, engine: Engine, capsys: pytest.CaptureFixture[str]
) -> None:
    before = checkpoint_sizes(engine)
    edit_entry(engine, 7)
    fill(engine, 3)  # the app goes on appending on top of the forged tree
    configure_logging("INFO")
    capsys.readouterr()
    assert refusal(engine, signed) == "checkpoint_root_mismatch"
    assert checkpoint_sizes(engine) == before
    alarm = read_alarm(signed.effective_keys_dir)
    assert alarm is not None
    assert alarm.reason == "checkpoint_root_mismatch"
    assert stat.S_IMODE((signed.effective_keys_dir / ALARM_FILE).stat().st_mode) == 0o600
    lines = [json.loads(line) for line in capsys.readouterr().err.splitlines()]
    alarms = [line for line in lines if line.get("event") == "audit_alarm"]
    assert len(alarms) == 1
    assert alarms[0]["level"] == "error"
    assert alarms[0]["reason"] == "checkpoint_root_mismatch"
    assert alarms[0]["tree_size"] == 43
    assert "dropped" not in alarms[0]


def test_the_worker_job_signs_nothing_after_a_rewrite(signed: Settings, engine: Engine) -> None:
    before = checkpoint_sizes(engine)
    edit_entry(engine, 0)
    fill(engine, 2)
    with pytest.raises(HistoryMismatch):
        run_once(engine, signed)
    assert checkpoint_sizes(engine) == before


def test_an_edit_of_the_stored_entry_alone_is_caught_in_the_unsigned_part(
    signed: Settings, engine: Engine
) -> None:
    fill(engine, 5)
    size = 40 + 5
    edit_entry(engine, size - 2, nodes=False)  # after the checkpoint, nodes left honest
    assert refusal(engine, signed) == "nodes_mismatch"


def test_an_edit_of_a_signed_entry_alone_is_found_by_the_spot_check(
    signed: Settings, engine: Engine
) -> None:
    edit_entry(engine, 21, nodes=False)  # under the checkpoint; the signed tree is intact
    fill(engine, 1)
    assert refusal(engine, signed) == "entry_altered"


def test_deleting_the_newest_checkpoint_row_is_caught_by_the_file_record(
    signed: Settings, engine: Engine
) -> None:
    fill(engine, 8)
    assert sign(engine, signed) is not None
    newest = checkpoint_sizes(engine)[-1]
    with engine.begin() as connection:
        drop_triggers(connection)
        connection.execute(text("DELETE FROM audit_checkpoints WHERE size = :s"), {"s": newest})
    # Then rewrite an entry the deleted checkpoint covered: the stored checkpoints alone agree.
    edit_entry(engine, newest - 3)
    fill(engine, 1)
    assert refusal(engine, signed) == "checkpoint_missing"
    assert checkpoint_sizes(engine)[-1] < newest


def test_a_newest_checkpoint_replaced_by_a_forger_is_caught(
    signed: Settings, engine: Engine
) -> None:
    newest = checkpoint_sizes(engine)[-1]
    forger = generate_signer("probity.test/audit")
    with engine.begin() as connection:
        drop_triggers(connection)
        root = connection.execute(
            text("SELECT hash FROM audit_nodes WHERE level = 0 LIMIT 1")
        ).scalar_one()
        note = sign_checkpoint(Checkpoint(forger.name, newest, bytes(root)), forger)
        update = text("UPDATE audit_checkpoints SET note = :n WHERE size = :s")
        connection.execute(update, {"n": note, "s": newest})
    fill(engine, 1)
    with pytest.raises(HistoryMismatch):
        sign(engine, signed)
    assert read_alarm(signed.effective_keys_dir) is not None


def test_the_alarm_stays_until_the_operator_clears_it_after_a_clean_check(
    signed: Settings, engine: Engine
) -> None:
    edit_entry(engine, 3)
    fill(engine, 1)
    with pytest.raises(HistoryMismatch):
        sign(engine, signed)
    result = runner.invoke(app, ["audit", "alarm", "clear"])
    assert result.exit_code == 1
    assert "checkpoint_root_mismatch" in result.output
    assert read_alarm(signed.effective_keys_dir) is not None
    # Status shows it, with its reason code.
    status = runner.invoke(app, ["audit", "alarm", "status"])
    assert status.exit_code == 1
    assert "checkpoint_root_mismatch" in status.output


def test_a_false_alarm_is_cleared_once_the_check_passes_and_clearing_is_audited(
    signed: Settings, engine: Engine
) -> None:
    # A stray alarm file (say, left from a drill): the log itself is intact.
    (signed.effective_keys_dir / ALARM_FILE).write_text('{"reason": "drill"}\n')
    fill(engine, 1)
    with pytest.raises(HistoryMismatch):
        sign(engine, signed)
    result = runner.invoke(app, ["audit", "alarm", "clear"])
    assert result.exit_code == 0, result.output
    assert read_alarm(signed.effective_keys_dir) is None
    with engine.connect() as connection:
        cleared = connection.scalar(
            select(func.count())
            .select_from(text("audit_entries"))
            .where(text("action = 'audit.alarm_cleared'"))
        )
    assert cleared == 1
    assert sign(engine, signed) is not None


def test_after_restoring_an_older_backup_the_operator_accepts_it_explicitly(
    signed: Settings, engine: Engine
) -> None:
    restored = checkpoint_sizes(engine)[-1]
    fill(engine, 8)
    assert sign(engine, signed) is not None
    # What restoring a backup taken at the first checkpoint does to the database.
    with engine.begin() as connection:
        drop_triggers(connection)
        connection.execute(text("DELETE FROM audit_checkpoints WHERE size > :k"), {"k": restored})
        connection.execute(text('DELETE FROM audit_entries WHERE "index" >= :k'), {"k": restored})
        connection.execute(text("DELETE FROM audit_nodes"))
        rebuild_nodes(connection)
    fill(engine, 1)
    assert refusal(engine, signed) == "checkpoint_missing"
    assert runner.invoke(app, ["audit", "alarm", "clear"]).exit_code == 1
    result = runner.invoke(app, ["audit", "alarm", "clear", "--accept-current"])
    assert result.exit_code == 0, result.output
    keys = signed.effective_keys_dir
    assert (keys / f"{SIGNED_RECORD_FILE}.superseded").exists()
    assert runner.invoke(app, ["audit", "alarm", "status"]).exit_code == 0
    assert sign(engine, signed) is not None


def test_during_the_alarm_the_export_still_works_and_fails_verification(
    signed: Settings, engine: Engine, tmp_path: Path
) -> None:
    edit_entry(engine, 13)
    fill(engine, 1)
    with pytest.raises(HistoryMismatch):
        sign(engine, signed)
    key = tmp_path / "log.pub"
    key.write_text(runner.invoke(app, ["audit", "key"]).output)
    export = tmp_path / "audit.jsonl"
    result = runner.invoke(app, ["audit", "export", str(export)])
    assert result.exit_code == 0, result.output
    checkpoint = f"{export}.checkpoint"
    verify = ["audit", "verify", str(export), "--checkpoint", checkpoint, "--key", str(key)]
    result = runner.invoke(app, verify)
    assert result.exit_code == 1
    # Leaf hashes were recomputed too, so the verifier names the signed range that changed.
    assert "entries 0..39" in result.output
