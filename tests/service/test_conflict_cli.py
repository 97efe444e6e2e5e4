"""`probity conflict add/list` (one value kind at a time, counts only, clear one-line errors; `add`
files a request a supervisor approves), `probity access status` (reader-less tips, content-free)
and `probity access recover` (the recovery key applies what no supervisor can)."""

from __future__ import annotations

import pytest
from sqlalchemy import Engine, select
from sqlalchemy.orm import Session
from typer.testing import CliRunner, Result

from service.access.conflicts import decide_conflict
from service.access.models import ConflictRequest
from service.cli import app
from service.config import Settings
from service.staff.models import Role
from tests.factories import (
    RECOVERY_PASSPHRASE,
    StaffHandle,
    add_conflict,
    add_staff,
    in_tx,
    principal,
    recovery_path,
)
from tests.service.access_util import World, apply_as, can_open, envelopes, readable
from tests.service.rotation_util import blob_ids, keys_of, opens

runner = CliRunner()
# The CLI reads its settings from the environment.
pytestmark = pytest.mark.usefixtures("cheap_kdf_env")


@pytest.fixture
def otto(engine: Engine, cheap_kdf_env: Settings, w: World) -> StaffHandle:
    """An oversight supervisor: decides conflict requests about anyone."""
    return add_staff(engine, cheap_kdf_env, "otto", Role.SUPERVISOR, ["oversight"])


def _approve_all(engine: Engine, approver: StaffHandle) -> int:
    who = principal(approver, Role.SUPERVISOR)

    def approve(session: Session) -> int:
        ids = list(session.scalars(select(ConflictRequest.id)))
        for request_id in ids:
            decide_conflict(session, who, request_id=request_id, approve=True)
        return len(ids)

    return in_tx(engine, approve)


def _conflict(engine: Engine, otto: StaffHandle, *args: str) -> None:
    """`probity conflict add ARGS`, approved by otto."""
    result = runner.invoke(app, ["conflict", "add", *args])
    assert result.exit_code == 0, result.output
    assert _approve_all(engine, otto) == 1


def test_conflict_add_files_a_request_that_a_supervisor_approves(
    engine: Engine, w: World, otto: StaffHandle
) -> None:
    result = runner.invoke(app, ["conflict", "add", "ana", "--badge", "4471"])
    assert result.exit_code == 0, result.output
    assert "Filed a badge conflict request for ana" in result.output
    assert "approves it at /staff/access" in result.output
    assert "4471" not in result.output
    assert "tip" not in result.output  # nothing about matches
    assert readable(engine, w.border.reviewer_us.id, w.tip)  # the operator alone changes nothing
    again = runner.invoke(app, ["conflict", "add", "ana", "--badge", "4471"])
    assert again.output == result.output
    assert _approve_all(engine, otto) == 1
    assert not readable(engine, w.border.reviewer_us.id, w.tip)
    apply_as(engine, w.sam)
    assert not can_open(engine, w.tip, "staff", w.border.reviewer_us.identity)


def test_conflict_value_can_come_from_stdin(engine: Engine, w: World, otto: StaffHandle) -> None:
    result = runner.invoke(app, ["conflict", "add", "luis", "--name", "-"], input="Juan Ramírez\n")
    assert result.exit_code == 0, result.output
    assert "Filed a name conflict request for luis" in result.output
    assert _approve_all(engine, otto) == 1
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
    for command in ("status", "recover"):
        result = runner.invoke(app, ["access", command, "--help"])
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


def test_access_status_lists_tips_without_a_reader_until_recovery(
    engine: Engine, cheap_kdf_env: Settings, w: World, otto: StaffHandle
) -> None:
    empty = runner.invoke(app, ["access", "status"])
    assert empty.exit_code == 0, empty.output
    assert "Tips with no reader: 0" in empty.output
    _conflict(engine, otto, "luis", "--name", "Juan Ramírez")  # luis: the mx tip's only reader
    status = runner.invoke(app, ["access", "status"])
    assert status.exit_code == 0, status.output
    assert "Tips with no reader: 1" in status.output
    [line] = [line for line in status.output.splitlines() if str(w.mx_tip) in line]
    assert "compartment mx" in line
    assert "no reader since 20" in line
    assert "Ram" not in status.output
    assert _recover(cheap_kdf_env).exit_code == 0
    after = runner.invoke(app, ["access", "status"])
    assert "Tips with no reader: 0" in after.output
    assert str(w.mx_tip) not in after.output


def test_recovery_key_reroutes_a_tip_left_without_reader_to_oversight(
    engine: Engine, cheap_kdf_env: Settings, w: World, otto: StaffHandle
) -> None:
    luis, olga = w.border.reviewer_mx, w.border.oversight
    old = keys_of(engine, w.mx_tip, luis.identity)  # copied while luis still read the tip
    _conflict(engine, otto, "luis", "--name", "Juan Ramírez")
    assert not readable(engine, olga.id, w.mx_tip)
    result = _recover(cheap_kdf_env)
    assert result.exit_code == 0, result.output
    assert "Rewrote the keys of 1 tip(s)" in result.output
    assert "Rerouted 1 tip(s)" in result.output
    assert readable(engine, olga.id, w.mx_tip)
    assert can_open(engine, w.mx_tip, "staff", olga.identity)
    assert not can_open(engine, w.mx_tip, "staff", luis.identity)
    assert can_open(engine, w.mx_tip, "staff", w.border.recovery_identity)
    # The keys rotated: luis's copy opens none of the tip's blobs, olga's keys open them all.
    new = keys_of(engine, w.mx_tip, olga.identity)
    for blob_id in blob_ids(engine, w.mx_tip):
        assert not opens(engine, blob_id, old.all())
        assert opens(engine, blob_id, new.all())


def test_recovery_with_a_wrong_passphrase_changes_nothing(
    engine: Engine, cheap_kdf_env: Settings, w: World, otto: StaffHandle
) -> None:
    _conflict(engine, otto, "luis", "--name", "Juan Ramírez")
    before = envelopes(engine, w.mx_tip)
    result = _recover(cheap_kdf_env, "not the passphrase")
    assert result.exit_code == 1
    assert "Traceback" not in result.output
    assert envelopes(engine, w.mx_tip) == before
    assert not readable(engine, w.border.oversight.id, w.mx_tip)


def test_recovery_says_when_oversight_has_nobody_eligible(
    engine: Engine, cheap_kdf_env: Settings, w: World, otto: StaffHandle
) -> None:
    for who in ("luis", "olga"):
        _conflict(engine, otto, who, "--badge", "4471")
    add_conflict(engine, cheap_kdf_env, otto.id, "badge", "4471")  # otto, too, is in oversight
    result = _recover(cheap_kdf_env)
    assert result.exit_code == 1
    assert "still have no reader" in result.output
