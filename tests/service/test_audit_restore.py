"""The restore statement (issue 13): a restored log says what it lost, signed, in the log itself,
and the signer's memory of the lost checkpoint is kept as evidence instead of raising an alarm."""

from __future__ import annotations

import json
import stat
from datetime import UTC, datetime
from pathlib import Path

import pytest
from sqlalchemy import Engine, func, select
from typer.testing import CliRunner

from crypto.checkpoint import Checkpoint, parse_body, sign_checkpoint
from crypto.note import generate_signer, sign_note
from crypto.statement import Restore, TreeHead, open_restore, sign_restore
from service.audit.alarm import SIGNED_RECORD_FILE, raise_alarm, read_alarm, read_signed_record
from service.audit.export import export_log
from service.audit.log import log_size
from service.audit.models import AuditEntry, AuditStatement
from service.audit.statements import list_statements, record_restore
from service.audit.verify import verify_export
from service.cli import app
from service.config import Settings
from service.errors import InvalidInput, VerificationError
from service.instance.keys import load_log_signer
from tests.factories import init_instance, transaction
from tests.service.audit_util import fill
from tests.service.restore_util import roll_back_log, sign

runner = CliRunner()


@pytest.fixture
def lost(settings: Settings, engine: Engine) -> tuple[str, str]:
    """A log signed at A, grown and signed at B, then rolled back to A (the backup)."""
    init_instance(engine, settings)
    fill(engine, 20)
    a = sign(engine, settings)
    fill(engine, 15)
    b = sign(engine, settings)
    roll_back_log(engine, parse_body(a.split("\n\n")[0] + "\n").size)
    return a, b


def _cp(note: str) -> Checkpoint:
    return parse_body(note.split("\n\n")[0] + "\n")


def restore(engine: Engine, settings: Settings, *, backup: str | None, last: str | None) -> str:
    with transaction(engine) as session:
        return record_restore(session, settings, backup_checkpoint=backup, last_checkpoint=last)


def test_restore_statement_names_backup_and_last_and_is_signed_by_the_log_key(
    settings: Settings, engine: Engine, lost: tuple[str, str]
) -> None:
    a, b = lost
    note = restore(engine, settings, backup=a, last=b)
    statement = open_restore(note, load_log_signer(settings.effective_keys_dir).verifier)
    assert isinstance(statement, Restore)
    assert (statement.backup.size, statement.backup.root) == (_cp(a).size, _cp(a).root)
    assert statement.last is not None
    assert (statement.last.size, statement.last.root) == (_cp(b).size, _cp(b).root)
    with transaction(engine) as session:
        assert [s.note for s in list_statements(session)] == [note]
        entry = session.scalars(select(AuditEntry).order_by(AuditEntry.index.desc())).first()
        assert entry is not None
        assert entry.action == "instance.restored"
        assert entry.index == _cp(a).size  # the restored log continues right after the backup
        assert b"backup_size" in entry.canonical
        assert b"root" not in entry.canonical


def test_remembered_checkpoint_is_moved_aside_as_evidence_and_signing_goes_on(
    settings: Settings, engine: Engine, lost: tuple[str, str]
) -> None:
    a, b = lost
    keys = settings.effective_keys_dir
    restore(engine, settings, backup=None, last=None)  # `last` comes from the signer's memory
    assert read_signed_record(keys) is None
    [evidence] = keys.glob(f"{SIGNED_RECORD_FILE}.restored-*")
    assert evidence.read_text() == b
    assert stat.S_IMODE(evidence.stat().st_mode) == 0o600
    [kept] = keys.glob("audit-restore-*.note")
    assert f"\nlast {_cp(b).size} " in kept.read_text()
    fill(engine, 3)
    new = sign(engine, settings)  # no alarm: the restore explained the shorter log
    assert read_alarm(keys) is None
    assert _cp(new).size == _cp(a).size + 1 + 3


def test_an_alarm_raised_before_the_restore_is_kept_aside_not_dropped(
    settings: Settings, engine: Engine, lost: tuple[str, str]
) -> None:
    keys = settings.effective_keys_dir
    raise_alarm(keys, "log_truncated", 0)
    restore(engine, settings, backup=None, last=None)
    assert read_alarm(keys) is None
    assert len(list(keys.glob("audit-alarm.json.restored-*"))) == 1


def test_a_rolled_back_restore_leaves_no_statement_and_touches_no_file(
    settings: Settings, engine: Engine, lost: tuple[str, str]
) -> None:
    a, b = lost
    keys = settings.effective_keys_dir
    with pytest.raises(RuntimeError), transaction(engine) as session:  # noqa: PT012
        record_restore(session, settings, backup_checkpoint=a, last_checkpoint=b)
        raise RuntimeError("the restore failed after the statement")
    assert read_signed_record(keys) == b
    assert not list(keys.glob("audit-restore-*"))
    with transaction(engine) as session:
        assert session.scalar(select(func.count()).select_from(AuditStatement)) == 0
        assert log_size(session) == _cp(a).size


def test_checkpoints_not_signed_by_the_log_key_are_refused(
    settings: Settings, engine: Engine, lost: tuple[str, str]
) -> None:
    a, b = lost
    cp = _cp(b)
    forged = sign_checkpoint(cp, generate_signer(cp.origin))
    edited = b.replace(f"\n{cp.size}\n", f"\n{cp.size + 1}\n")
    for backup, last in ((forged, None), (a, forged), (a, edited), (a, "not a note")):
        with pytest.raises(InvalidInput):
            restore(engine, settings, backup=backup, last=last)
    with transaction(engine) as session:
        assert session.scalar(select(func.count()).select_from(AuditStatement)) == 0


def test_a_backup_checkpoint_beyond_the_restored_log_is_refused(
    settings: Settings, engine: Engine, lost: tuple[str, str]
) -> None:
    _, b = lost
    with pytest.raises(InvalidInput, match="beyond"):
        restore(engine, settings, backup=b, last=None)


# --- what an auditor who trusted B sees -----------------------------------------------------------


def _export(engine: Engine, settings: Settings, path: Path) -> tuple[list[str], str]:
    with transaction(engine) as session:
        export_log(session, settings, path)
    return path.read_text().splitlines(keepends=True), Path(f"{path}.checkpoint").read_text()


@pytest.fixture
def restored(settings: Settings, engine: Engine, lost: tuple[str, str]) -> tuple[str, str]:
    """After the loss: the restore recorded, then other entries in the lost positions."""
    a, b = lost
    restore(engine, settings, backup=a, last=b)
    fill(engine, 25, action="tip.assigned")
    return a, b


def test_verify_against_the_lost_checkpoint_passes_only_with_the_restore_statement(
    settings: Settings, engine: Engine, restored: tuple[str, str], tmp_path: Path
) -> None:
    a, b = restored
    key = load_log_signer(settings.effective_keys_dir).verifier.encode()
    lines, checkpoint = _export(engine, settings, tmp_path / "audit.jsonl")
    assert _cp(checkpoint).size > _cp(b).size  # the new history outgrew the lost one
    report = verify_export(lines, checkpoint=checkpoint, key=key, trusted=b)
    today = datetime.now(UTC).date().isoformat()
    [warning] = report.warnings
    assert warning.startswith(
        f"entries {_cp(a).size}..{_cp(b).size - 1} were lost in a restore on {today}"
    )
    assert report.trusted_size is None
    assert any(step.startswith(f"restore on {today}") for step in report.chain)
    # Trusting A (kept by the backup) is plain consistency, no warning.
    assert verify_export(lines, checkpoint=checkpoint, key=key, trusted=a).warnings == ()
    without = [lines[0].replace('"statements": 1', '"statements": 0'), *lines[2:]]
    with pytest.raises(VerificationError, match="rewrote its history"):
        verify_export(without, checkpoint=checkpoint, key=key, trusted=b)


def test_forged_or_mismatched_restore_statements_do_not_explain_the_loss(
    settings: Settings, engine: Engine, restored: tuple[str, str], tmp_path: Path
) -> None:
    a, b = restored
    signer = load_log_signer(settings.effective_keys_dir)
    key = signer.verifier.encode()
    lines, checkpoint = _export(engine, settings, tmp_path / "audit.jsonl")
    real = json.loads(lines[1])["statement"]
    text = real.split("\n\n")[0] + "\n"
    head_a, head_b = _cp(a), _cp(b)
    wrong_last = Restore(
        signer.name,
        TreeHead(head_a.size, head_a.root),
        TreeHead(head_b.size, head_a.root),
        "2026-12-03",
    )
    wrong_backup = Restore(
        signer.name,
        TreeHead(head_a.size, head_b.root),
        TreeHead(head_b.size, head_b.root),
        "2026-12-03",
    )
    forgeries = [
        sign_note(text, generate_signer(signer.name)),  # another key
        real.replace("\ndate ", "\ndate 1", 1).replace("date 12026", "date 2025"),  # edited
        sign_restore(wrong_last, signer),  # names another lost checkpoint
        sign_restore(wrong_backup, signer),  # a backup that is not the log's
    ]
    for forged in forgeries:
        swapped = [lines[0], json.dumps({"statement": forged}) + "\n", *lines[2:]]
        with pytest.raises(VerificationError, match="rewrote its history"):
            verify_export(swapped, checkpoint=checkpoint, key=key, trusted=b)


def test_cli_verify_prints_the_lost_range_and_exits_0(
    cheap_kdf_env: Settings, engine: Engine, tmp_path: Path
) -> None:
    init_instance(engine, cheap_kdf_env)
    fill(engine, 10)
    a = sign(engine, cheap_kdf_env)
    fill(engine, 6)
    b = sign(engine, cheap_kdf_env)
    roll_back_log(engine, _cp(a).size)
    restore(engine, cheap_kdf_env, backup=a, last=None)  # `last` from the signer's memory
    fill(engine, 9)
    key, trusted, file = tmp_path / "log.pub", tmp_path / "b.checkpoint", tmp_path / "audit.jsonl"
    key.write_text(runner.invoke(app, ["audit", "key"]).stdout)
    trusted.write_text(b)
    assert runner.invoke(app, ["audit", "export", str(file)]).exit_code == 0
    argv = ["audit", "verify", str(file), "--checkpoint", f"{file}.checkpoint", "--key", str(key)]
    done = runner.invoke(app, [*argv, "--trusted", str(trusted)])
    assert done.exit_code == 0, done.output
    lost = f"entries {_cp(a).size}..{_cp(b).size - 1} were lost in a restore on"
    assert f"WARNING: {lost}" in " ".join(done.stdout.split())
    lines = file.read_text().splitlines(keepends=True)
    file.write_text("".join([lines[0].replace('"statements": 1', '"statements": 0'), *lines[2:]]))
    refused = runner.invoke(app, [*argv, "--trusted", str(trusted)])
    assert refused.exit_code == 1
    assert "rewrote its history" in " ".join(refused.output.split())
