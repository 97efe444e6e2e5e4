"""`probity conflict add/list` (one value kind at a time, counts only, clear one-line errors) and
`probity access recover` (the recovery key applies what no supervisor can)."""

from __future__ import annotations

import pytest
from sqlalchemy import Engine
from typer.testing import CliRunner, Result

from service.cli import app
from service.config import Settings
from tests.factories import RECOVERY_PASSPHRASE, recovery_path
from tests.service.access_util import World, apply_as, can_open, envelopes, readable, world

runner = CliRunner()


@pytest.fixture
def w(engine: Engine, cheap_kdf_env: Settings) -> World:
    return world(engine, cheap_kdf_env)


def test_conflict_add_removes_the_member_and_says_a_supervisor_mustapply_as(
    engine: Engine, w: World
) -> None:
    result = runner.invoke(app, ["conflict", "add", "ana", "--badge", "4471"])
    assert result.exit_code == 0, result.output
    assert "Removed ana from 1 tip(s)" in result.output
    assert "supervisor" in result.output
    assert "4471" not in result.output
    assert not readable(engine, w.border.reviewer_us.id, w.tip)
    apply_as(engine, w.sam)
    assert not can_open(engine, w.tip, "staff", w.border.reviewer_us.identity)


def test_conflict_value_can_come_from_stdin(engine: Engine, w: World) -> None:
    result = runner.invoke(app, ["conflict", "add", "luis", "--name", "-"], input="Juan Ramírez\n")
    assert result.exit_code == 0, result.output
    assert "Removed luis from 1 tip(s)" in result.output
    assert "no reader" in result.output  # luis was the mx tip's only reader
    listed = runner.invoke(app, ["conflict", "list", "luis"])
    assert listed.exit_code == 0, listed.output
    assert listed.output.split() == ["name", "1", "badge", "0", "unit", "0"]
    assert "Ram" not in listed.output


@pytest.mark.parametrize(
    ("args", "fragment"),
    [
        (["ana"], "exactly one"),
        (["ana", "--name", "x", "--unit", "y"], "exactly one"),
        (["nobody", "--unit", "Bridge Unit 3"], "no staff member"),
        (["ana", "--name", " ... "], "empty"),
    ],
)
def test_conflict_add_errors_are_one_line(w: World, args: list[str], fragment: str) -> None:
    result = runner.invoke(app, ["conflict", "add", *args])
    assert result.exit_code == 1, result.output
    assert "Traceback" not in result.output
    lines = [line for line in result.output.splitlines() if line.strip()]
    assert len(lines) == 1, result.output
    assert fragment in lines[0]


def test_conflict_help_has_an_example(w: World) -> None:
    for command in ("add", "list"):
        result = runner.invoke(app, ["conflict", command, "--help"])
        assert result.exit_code == 0
        assert "Example: " in result.output


def _recover(settings: Settings, passphrase: str = RECOVERY_PASSPHRASE) -> Result:
    args = [
        "access",
        "recover",
        "--recovery-file",
        str(recovery_path(settings)),
        "--password-stdin",
    ]
    return runner.invoke(app, args, input=passphrase + "\n")


def test_recovery_key_reroutes_a_tip_left_without_reader_to_oversight(
    engine: Engine, cheap_kdf_env: Settings, w: World
) -> None:
    luis, olga = w.border.reviewer_mx, w.border.oversight
    runner.invoke(app, ["conflict", "add", "luis", "--name", "Juan Ramírez"])
    assert not readable(engine, olga.id, w.mx_tip)
    result = _recover(cheap_kdf_env)
    assert result.exit_code == 0, result.output
    assert "Rewrote the keys of 1 tip(s)" in result.output
    assert "Rerouted 1 tip(s)" in result.output
    assert readable(engine, olga.id, w.mx_tip)
    assert can_open(engine, w.mx_tip, "staff", olga.identity)
    assert not can_open(engine, w.mx_tip, "staff", luis.identity)
    assert can_open(engine, w.mx_tip, "staff", w.border.recovery_identity)


def test_recovery_with_a_wrong_passphrase_changes_nothing(
    engine: Engine, cheap_kdf_env: Settings, w: World
) -> None:
    runner.invoke(app, ["conflict", "add", "luis", "--name", "Juan Ramírez"])
    before = envelopes(engine, w.mx_tip)
    result = _recover(cheap_kdf_env, "not the passphrase")
    assert result.exit_code == 1
    assert "Traceback" not in result.output
    assert envelopes(engine, w.mx_tip) == before
    assert not readable(engine, w.border.oversight.id, w.mx_tip)


def test_recovery_says_when_oversight_has_nobody_eligible(
    engine: Engine, cheap_kdf_env: Settings, w: World
) -> None:
    for who in ("luis", "olga"):
        runner.invoke(app, ["conflict", "add", who, "--badge", "4471"])
    result = _recover(cheap_kdf_env)
    assert result.exit_code == 1
    assert "still have no reader" in result.output
