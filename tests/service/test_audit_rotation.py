"""Log key rotation (issue 13): the next checkpoint is signed by the new key, and an auditor who
pinned the old key follows the rotation statement, signed by both keys, to it."""

from __future__ import annotations

import json
import stat
from pathlib import Path

import pytest
from sqlalchemy import Engine, func, select
from typer.testing import CliRunner

from crypto.checkpoint import Checkpoint, open_checkpoint, sign_checkpoint
from crypto.note import generate_signer, parse_signer, sign_note
from crypto.statement import Rotation, TreeHead, format_rotation, open_rotation, sign_rotation
from service.audit.alarm import raise_alarm, read_alarm
from service.audit.checkpoints import latest_checkpoint
from service.audit.export import export_log
from service.audit.models import AuditEntry, AuditLogKey, AuditStatement
from service.audit.rotation import NEXT_KEY_FILE, rotate_log_key
from service.audit.statements import list_statements
from service.audit.verify import verify_export
from service.audit.view import checkpoint_status
from service.cli import app
from service.config import Settings
from service.errors import HistoryMismatch, VerificationError
from service.health import readiness_problems
from service.instance.keys import (
    LOG_SIGNING_FILE,
    load_log_signer,
    log_verifiers,
    retired_key_path,
)
from tests.factories import init_instance, transaction
from tests.service.audit_util import fill
from tests.service.restore_util import sign

runner = CliRunner()


@pytest.fixture
def rotated(settings: Settings, engine: Engine) -> tuple[str, str]:
    """(old key, new key) of a log rotated once at 30-odd entries, then grown by 5."""
    init_instance(engine, settings)
    fill(engine, 30)
    old = load_log_signer(settings.effective_keys_dir).verifier.encode()
    with transaction(engine) as session:
        rotate_log_key(session, settings)
    fill(engine, 5)
    return old, load_log_signer(settings.effective_keys_dir).verifier.encode()


def _export(engine: Engine, settings: Settings, path: Path) -> tuple[list[str], str]:
    with transaction(engine) as session:
        export_log(session, settings, path)
    return path.read_text().splitlines(keepends=True), Path(f"{path}.checkpoint").read_text()


def test_rotation_switches_the_signer_and_keeps_the_old_key_aside(
    settings: Settings, engine: Engine, rotated: tuple[str, str]
) -> None:
    old, new = rotated
    assert old != new
    keys = settings.effective_keys_dir
    [retired] = keys.glob("log-signing.*.retired.key")
    assert parse_signer(retired.read_text()).verifier.encode() == old
    assert stat.S_IMODE(retired.stat().st_mode) == 0o600
    assert stat.S_IMODE((keys / LOG_SIGNING_FILE).stat().st_mode) == 0o600
    assert not (keys / NEXT_KEY_FILE).exists()
    note = sign(engine, settings)  # the next checkpoint: the new key
    with transaction(engine) as session:
        [row] = list_statements(session)
        rotation = open_rotation(row.note)
        assert (rotation.old.encode(), rotation.new.encode()) == (old, new)
        assert row.kind == "key_rotation"
        copy = keys / f"log-rotation-{rotation.new.id:08x}.note"  # for a restore from backup
        assert copy.read_text() == row.note
        assert stat.S_IMODE(copy.stat().st_mode) == 0o600
        stored = {k.verifier: k.from_size for k in session.scalars(select(AuditLogKey))}
        assert stored == {old: 0, new: rotation.head.size}
        entry = session.scalars(
            select(AuditEntry).where(AuditEntry.action == "audit.key_rotated")
        ).one()
        assert entry.index == rotation.head.size  # the entry is the first one the new key signs
        checkpoint = latest_checkpoint(session)
        assert checkpoint is not None
    assert checkpoint.note == note
    open_checkpoint(note, load_log_signer(keys).verifier)
    assert readiness_problems(engine, settings) == []  # instance_keys follows the new key
    assert read_alarm(keys) is None
    fill(engine, 2)
    sign(engine, settings)  # the guard still opens the old key's checkpoints


def test_an_auditor_pinned_to_the_old_key_follows_the_rotation(
    settings: Settings, engine: Engine, rotated: tuple[str, str], tmp_path: Path
) -> None:
    old, new = rotated
    lines, checkpoint = _export(engine, settings, tmp_path / "audit.jsonl")
    assert json.loads(lines[0])["statements"] == 1
    report = verify_export(lines, checkpoint=checkpoint, key=old)
    assert report.chain[0].startswith("pinned key ")
    assert "rotation signed by both keys" in report.chain[1]
    assert report.checkpoint_key == "+".join(new.split("+")[:2])
    pinned_new = verify_export(lines, checkpoint=checkpoint, key=new)
    assert pinned_new.chain == (f"pinned key {report.checkpoint_key}",)  # nothing to follow


def _with_statement(lines: list[str], note: str) -> list[str]:
    return [lines[0], json.dumps({"statement": note}) + "\n", *lines[2:]]


def test_forged_rotation_statements_are_refused(
    settings: Settings, engine: Engine, rotated: tuple[str, str], tmp_path: Path
) -> None:
    old, _ = rotated
    lines, checkpoint = _export(engine, settings, tmp_path / "audit.jsonl")
    real = json.loads(lines[1])["statement"]
    text = real.split("\n\n")[0] + "\n"
    one_signature = real.rsplit("\u2014", 1)[0]
    edited = real.replace("\nsize ", "\nsize 1", 1)
    thief = generate_signer(
        parse_signer((settings.effective_keys_dir / LOG_SIGNING_FILE).read_text()).name
    )
    retired = parse_signer(next(settings.effective_keys_dir.glob("*.retired.key")).read_text())
    wrong_new = sign_note(text, retired) + sign_note(text, thief).split("\n\n")[1]
    for forged in (one_signature, edited, wrong_new, sign_note(text, retired)):
        with pytest.raises(VerificationError) as caught:
            verify_export(_with_statement(lines, forged), checkpoint=checkpoint, key=old)
        assert "statement 1" in caught.value.detail
    without = [lines[0].replace('"statements": 1', '"statements": 0'), *lines[2:]]
    with pytest.raises(VerificationError, match="no signature from the trusted key"):
        verify_export(without, checkpoint=checkpoint, key=old)


def test_a_rotation_at_a_point_off_the_log_is_refused(
    settings: Settings, engine: Engine, rotated: tuple[str, str], tmp_path: Path
) -> None:
    """Both keys signed it, but its tree head is not the log's: a key holder's fork."""
    old, _ = rotated
    lines, _ = _export(engine, settings, tmp_path / "audit.jsonl")
    keys = settings.effective_keys_dir
    prior = parse_signer(next(keys.glob("*.retired.key")).read_text())
    other = generate_signer(prior.name)
    off = Rotation(prior.name, prior.verifier, other.verifier, TreeHead(3, b"\x07" * 32))
    forged = _with_statement(lines, sign_rotation(off, prior, other))
    note = Path(f"{tmp_path / 'audit.jsonl'}.checkpoint").read_text()
    body = open_checkpoint(note, load_log_signer(keys).verifier)
    resigned = sign_checkpoint(Checkpoint(body.origin, body.size, body.root), other)
    with pytest.raises(VerificationError, match="does not match the log"):
        verify_export(forged, checkpoint=resigned, key=old)


def test_a_failed_rotation_leaves_the_old_key_signing(settings: Settings, engine: Engine) -> None:
    init_instance(engine, settings)
    keys = settings.effective_keys_dir
    before = (keys / LOG_SIGNING_FILE).read_text()
    with pytest.raises(RuntimeError), transaction(engine) as session:  # noqa: PT012
        rotate_log_key(session, settings)
        raise RuntimeError("crash before the commit")
    assert (keys / LOG_SIGNING_FILE).read_text() == before
    assert not (keys / NEXT_KEY_FILE).exists()
    assert not list(keys.glob("*.retired.key"))
    assert not list(keys.glob("log-rotation-*"))
    with transaction(engine) as session:
        assert session.scalar(select(func.count()).select_from(AuditStatement)) == 0


def test_an_interrupted_switch_is_finished_by_the_next_run(
    settings: Settings, engine: Engine
) -> None:
    init_instance(engine, settings)
    keys = settings.effective_keys_dir
    with transaction(engine) as session:
        result = rotate_log_key(session, settings)
    # Undo the switch as a crash right after the commit would have left it.
    current = keys / LOG_SIGNING_FILE
    current.replace(keys / NEXT_KEY_FILE)
    retired = retired_key_path(keys, result.old.id)
    retired.replace(current)
    code = runner_rotate(settings)
    assert code.exit_code == 1
    assert "finished an interrupted rotation" in code.output
    assert load_log_signer(keys).verifier == result.new
    assert retired.exists()


def runner_rotate(settings: Settings):
    env = {
        "PROBITY_DATA_DIR": str(settings.data_dir),
        "PROBITY_DATABASE_URL": settings.database_url,
    }
    return runner.invoke(app, ["audit", "rotate-key"], env=env)


def test_cli_rotate_key_then_verify_with_the_old_key(
    cheap_kdf_env: Settings, engine: Engine, tmp_path: Path
) -> None:
    init_instance(engine, cheap_kdf_env)
    fill(engine, 12)
    old_key = tmp_path / "old.pub"
    old_key.write_text(runner.invoke(app, ["audit", "key"]).stdout)
    help_text = runner.invoke(app, ["audit", "rotate-key", "--help"]).output
    assert "Example: probity audit rotate-key" in help_text
    result = runner.invoke(app, ["audit", "rotate-key"])
    assert result.exit_code == 0, result.output
    assert result.stdout.startswith("probity-log-key-rotation/1\n")
    open_rotation(result.stdout)
    fill(engine, 3)
    file = tmp_path / "audit.jsonl"
    assert runner.invoke(app, ["audit", "export", str(file)]).exit_code == 0
    argv = ["audit", "verify", str(file), "--checkpoint", f"{file}.checkpoint"]
    done = runner.invoke(app, [*argv, "--key", str(old_key)])
    assert done.exit_code == 0, done.output
    assert "Key chain followed:" in done.stdout
    assert "rotation signed by both keys" in done.stdout
    assert "OK: " in done.stdout
    stranger = tmp_path / "stranger.pub"
    stranger.write_text(generate_signer(open_rotation(result.stdout).origin).verifier.encode())
    refused = runner.invoke(app, [*argv, "--key", str(stranger)])
    assert refused.exit_code == 1
    assert "no signature from the trusted key" in refused.output


def test_rotation_text_names_the_format_origin_keys_and_tree_head() -> None:
    old, new = generate_signer("a.example/log"), generate_signer("a.example/log")
    text = format_rotation(
        Rotation("a.example/log", old.verifier, new.verifier, TreeHead(7, b"\x01" * 32))
    )
    assert text.splitlines()[0] == "probity-log-key-rotation/1"
    assert [line.split(" ")[0] for line in text.splitlines()[1:]] == [
        "origin",
        "old",
        "new",
        "size",
        "root",
    ]


def test_the_audit_page_status_opens_checkpoints_of_both_keys(
    settings: Settings, engine: Engine, rotated: tuple[str, str]
) -> None:
    sign(engine, settings)  # newest by the new key, the one before by the old key
    keys = settings.effective_keys_dir
    with transaction(engine) as session:
        status = checkpoint_status(session, log_verifiers(keys))
        assert status.verified, status.problem
        assert status.checks["previous_signature"]
        only_new = checkpoint_status(session, load_log_signer(keys).verifier)
        assert only_new.problem == "previous_bad_signature"


def test_no_rotation_while_the_alarm_is_on(settings: Settings, engine: Engine) -> None:
    init_instance(engine, settings)
    keys = settings.effective_keys_dir
    raise_alarm(keys, "entry_altered", 3)
    before = (keys / LOG_SIGNING_FILE).read_text()
    with pytest.raises(HistoryMismatch), transaction(engine) as session:
        rotate_log_key(session, settings)
    assert (keys / LOG_SIGNING_FILE).read_text() == before
    assert not (keys / NEXT_KEY_FILE).exists()
