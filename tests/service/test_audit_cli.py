"""`probity audit key|export|verify` and `probity worker`."""

from __future__ import annotations

import json
import subprocess
import sys
import threading
import time
import uuid
from datetime import date
from pathlib import Path

import pytest
from sqlalchemy import Engine, func, select
from typer.testing import CliRunner

from crypto.checkpoint import open_checkpoint
from crypto.note import generate_signer, parse_verifier
from service.audit import export, verify
from service.audit.log import history, log_size
from service.audit.models import AuditCheckpoint, PendingAuditEntry
from service.audit.pending import record_reporter_event
from service.cli import app
from service.config import Settings
from service.worker import run_forever
from tests.factories import init_instance, transaction
from tests.service.audit_util import fill

runner = CliRunner()


@pytest.fixture
def audited(cheap_kdf_env: Settings, engine: Engine) -> Settings:
    init_instance(engine, cheap_kdf_env)
    fill(engine, 25)
    return cheap_kdf_env


def _export(tmp: Path) -> tuple[Path, Path]:
    key = tmp / "log.pub"
    result = runner.invoke(app, ["audit", "key"])
    assert result.exit_code == 0, result.output
    key.write_text(result.output)
    file = tmp / "audit.jsonl"
    result = runner.invoke(app, ["audit", "export", str(file)])
    assert result.exit_code == 0, result.output
    assert f"{file}.checkpoint" in result.output.replace("\n", "")
    return file, key


def test_key_export_and_verify_round_trip(audited: Settings, tmp_path: Path) -> None:
    file, key = _export(tmp_path)
    verifier = parse_verifier(key.read_text())
    cp = open_checkpoint(Path(f"{file}.checkpoint").read_text(), verifier)
    lines = file.read_text(encoding="utf-8").splitlines()
    header = json.loads(lines[0])
    assert header == {
        "format": "probity-audit-export/2",
        "origin": cp.origin,
        "size": cp.size,
        "statements": 0,
    }
    assert len(lines) == cp.size + 1
    assert set(json.loads(lines[1])) == {"index", "entry", "leaf_hash"}
    argv = ["audit", "verify", str(file), "--checkpoint", f"{file}.checkpoint", "--key", str(key)]
    result = runner.invoke(app, argv)
    assert result.exit_code == 0, result.output
    assert f"OK: {cp.size} entries" in result.output


def _verify(file: Path, checkpoint: Path, key: Path, trusted: Path) -> tuple[int, str]:
    argv = ["audit", "verify", str(file), "--checkpoint", str(checkpoint), "--key", str(key)]
    result = runner.invoke(app, [*argv, "--trusted", str(trusted)])
    return result.exit_code, result.output


def test_verify_against_an_older_trusted_checkpoint(
    audited: Settings, engine: Engine, tmp_path: Path
) -> None:
    (tmp_path / "old").mkdir()
    old, key = _export(tmp_path / "old")
    old_cp = Path(f"{old}.checkpoint")
    fill(engine, 7)
    new, _ = _export(tmp_path)
    new_cp = Path(f"{new}.checkpoint")
    code, output = _verify(new, new_cp, key, old_cp)
    assert code == 0, output
    assert "Consistent with the trusted checkpoint" in output
    code, output = _verify(old, old_cp, key, new_cp)  # "trusted" newer than the checkpoint
    assert code == 1
    assert "larger" in output


def test_verify_needs_no_database_or_settings(audited: Settings, tmp_path: Path) -> None:
    file, key = _export(tmp_path)
    env = {"PATH": "/usr/bin:/bin", "PROBITY_DATABASE_URL": "postgresql://nobody@127.0.0.1:1/x"}
    argv = ["audit", "verify", str(file), "--checkpoint", f"{file}.checkpoint", "--key", str(key)]
    code = "from service.cli import app; app()"
    done = subprocess.run(
        [sys.executable, "-c", code, *argv],
        env=env,
        cwd=Path(__file__).resolve().parents[2],
        capture_output=True,
        text=True,
        check=False,
        timeout=60,
    )
    assert done.returncode == 0, done.stderr
    assert "OK:" in done.stdout


def test_wrong_key_and_missing_files_are_one_clear_line(audited: Settings, tmp_path: Path) -> None:
    file, _ = _export(tmp_path)
    other = tmp_path / "other.pub"
    other.write_text(generate_signer("someone.else/log").verifier.encode() + "\n")
    argv = ["audit", "verify", str(file), "--checkpoint", f"{file}.checkpoint"]
    for key in (other, tmp_path / "missing.pub"):
        result = runner.invoke(app, [*argv, "--key", str(key)])
        assert result.exit_code == 1
        assert result.output.startswith("error: ")
        assert "Traceback" not in result.output


@pytest.mark.parametrize("command", [[], ["key"], ["export"], ["verify"]])
def test_every_audit_command_has_help_with_an_example(command: list[str]) -> None:
    result = runner.invoke(app, ["audit", *command, "--help"])
    assert result.exit_code == 0
    if command:
        assert "Example:" in result.output


def test_worker_once_flushes_pending_events_and_signs_a_checkpoint(
    audited: Settings, engine: Engine
) -> None:
    tip = uuid.uuid4()
    with transaction(engine) as session:
        record_reporter_event(session, "reporter.message_posted", day=date(2026, 11, 2), tip_id=tip)
    result = runner.invoke(app, ["worker", "--once"])
    assert result.exit_code == 0, result.output
    assert "audit.flush: 1" in result.output
    assert "audit.checkpoint: 1" in result.output
    assert "staff.sessions: 0" in result.output
    with transaction(engine) as session:
        assert session.scalar(select(func.count()).select_from(PendingAuditEntry)) == 0
        (event,) = history(session, tip)
        assert event.time == date(2026, 11, 2)
        newest = session.scalar(select(func.max(AuditCheckpoint.size)))
        assert newest == log_size(session)
    again = runner.invoke(app, ["worker", "--once"])
    assert "audit.flush: 0" in again.output
    assert "audit.checkpoint: 0" in again.output


def test_worker_refuses_an_uninitialised_instance(cheap_kdf_env: Settings) -> None:
    result = runner.invoke(app, ["worker", "--once"])
    assert result.exit_code == 1
    assert "not initialised" in result.output


def test_worker_loop_runs_its_jobs_until_stopped(audited: Settings, engine: Engine) -> None:
    fast = audited.model_copy(update={"audit_flush_seconds": 0.05, "checkpoint_seconds": 0.05})
    tip = uuid.uuid4()
    with transaction(engine) as session:
        record_reporter_event(session, "reporter.message_posted", day=date(2026, 11, 2), tip_id=tip)
    stop = threading.Event()
    loop = threading.Thread(target=run_forever, args=(engine, fast, stop))
    loop.start()
    try:
        deadline = time.monotonic() + 20
        while time.monotonic() < deadline:
            with transaction(engine) as session:
                newest = session.scalar(select(func.max(AuditCheckpoint.size)))
                if history(session, tip) and newest == log_size(session):
                    break
            time.sleep(0.05)
        else:
            pytest.fail("the worker loop neither flushed nor signed")
    finally:
        stop.set()
        loop.join(10)
    assert not loop.is_alive()


@pytest.mark.parametrize("size", [0, 1, 7, 12345678901])
def test_fast_export_lines_are_the_verifiers_format(size: int) -> None:
    entry, leaf = b'{"index":%d}' % size, bytes(range(32))
    assert export.export_line(size, entry, leaf) == verify.export_line(size, entry, leaf)
