"""`probity export` and `probity export verify`: help, and one-line refusals of bad input before
anything is read or written (the end-to-end runs are in tests/routes/test_export*.py)."""

from __future__ import annotations

import uuid
from pathlib import Path

import pytest
from sqlalchemy import Engine
from typer.testing import CliRunner

from crypto.note import generate_signer
from service.cli import app
from service.config import Settings
from tests.factories import RECOVERY_PASSPHRASE, REFERRAL_RECIPIENT, Border, recovery_path

runner = CliRunner()


@pytest.mark.parametrize("argv", [["export", "tip"], ["export", "verify"]])
def test_each_command_has_help_with_an_example(argv: list[str]) -> None:
    result = runner.invoke(app, [*argv, "--help"])
    assert result.exit_code == 0
    assert "Example:" in result.output


def test_export_alone_lists_its_commands() -> None:
    result = runner.invoke(app, ["export", "--help"])
    assert result.exit_code == 0
    assert "verify" in result.output


def _export(settings: Settings, tip: str, to: str, *extra: str) -> tuple[int, str]:
    args = ["export", tip, "--to", to, "--recovery-file", str(recovery_path(settings))]
    result = runner.invoke(
        app, [*args, "--password-stdin", *extra], input=RECOVERY_PASSPHRASE + "\n"
    )
    return result.exit_code, result.output


def test_bad_arguments_are_refused_in_one_line(
    cheap_kdf_env: Settings, engine: Engine, border: Border, tmp_path: Path
) -> None:
    out = tmp_path / "bundle.age"
    assert _export(cheap_kdf_env, "not-a-tip", REFERRAL_RECIPIENT)[0] == 1
    code, output = _export(cheap_kdf_env, str(uuid.uuid4()), REFERRAL_RECIPIENT, "--out", str(out))
    assert code == 1
    assert "no such tip" in output
    assert not out.exists()
    code, output = _export(cheap_kdf_env, str(uuid.uuid4()), "age1nope", "--out", str(out))
    assert code == 1
    assert "recipient" in output
    out.write_bytes(b"keep me")
    code, output = _export(cheap_kdf_env, str(uuid.uuid4()), REFERRAL_RECIPIENT, "--out", str(out))
    assert code == 1
    assert "already exists" in output
    assert out.read_bytes() == b"keep me"
    wrong = runner.invoke(
        app,
        [
            "export",
            str(uuid.uuid4()),
            "--to",
            REFERRAL_RECIPIENT,
            "--recovery-file",
            str(recovery_path(cheap_kdf_env)),
            "--password-stdin",
        ],
        input="not the passphrase\n",
    )
    assert wrong.exit_code == 1
    assert "Traceback" not in wrong.output


def test_verify_refuses_what_is_not_a_bundle(tmp_path: Path) -> None:
    key = tmp_path / "log.pub"
    key.write_text(generate_signer("probity.local/audit").verifier.encode())
    cp = tmp_path / "cp"
    cp.write_text("not a checkpoint\n")
    empty = tmp_path / "empty"
    empty.mkdir()
    for target, message in ((tmp_path / "nothing", "not a directory"), (empty, "manifest.json")):
        result = runner.invoke(
            app, ["export", "verify", str(target), "--key", str(key), "--checkpoint", str(cp)]
        )
        assert result.exit_code == 1
        assert message in result.output
    (empty / "manifest.json").write_text("[]")
    result = runner.invoke(
        app, ["export", "verify", str(empty), "--key", str(key), "--checkpoint", str(cp)]
    )
    assert result.exit_code == 1
    assert "not a probity-referral/1 manifest" in result.output
    key.write_text("garbage")
    result = runner.invoke(
        app, ["export", "verify", str(empty), "--key", str(key), "--checkpoint", str(cp)]
    )
    assert result.exit_code == 1
    assert "--key" in result.output
