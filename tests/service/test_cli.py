"""The `probity` command: scripted secrets, clear one-line errors, idempotent demo."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pyotp
import pytest
from sqlalchemy import func, select
from typer.testing import CliRunner, Result

from service.access.models import PendingAccessChange
from service.audit.models import AuditEntry
from service.cli import app
from service.compartments.models import Membership
from service.config import Settings
from service.db import make_engine
from service.instance.demo_tips import DEMO_TIPS
from service.staff.models import StaffUser
from service.tips.models import Tip

runner = CliRunner()
SECRETS = "correct horse battery\nrecovery passphrase ok\n"


def _init(settings: Settings) -> None:
    recovery = settings.data_dir.parent / "recovery.age"
    result = runner.invoke(
        app, ["init", "--password-stdin", "--recovery-file", str(recovery)], input=SECRETS
    )
    assert result.exit_code == 0, result.output
    assert "otpauth://totp/Probity:admin" in result.output
    assert recovery.exists()


def add_reviewer(username: str, compartment: str) -> Result:
    """`probity staff add` of a reviewer in `compartment`, the password on stdin."""
    command = ["staff", "add", username, "--role", "reviewer", "--compartment", compartment]
    return runner.invoke(
        app, [*command, "--password-stdin"], input=f"{username} has a long password\n"
    )


def _assert_one_line_error(result: object, fragment: str) -> None:
    output = result.output  # type: ignore[attr-defined]
    assert result.exit_code == 1, output  # type: ignore[attr-defined]
    assert "Traceback" not in output
    lines = [line for line in output.splitlines() if line.strip()]
    assert len(lines) == 1, output
    assert lines[0].startswith("error: ")
    assert fragment in lines[0]


def test_init_then_staff_compartment_and_agency(cheap_kdf_env: Settings) -> None:
    _init(cheap_kdf_env)
    assert runner.invoke(app, ["compartment", "add", "mx-asuntos-internos"]).exit_code == 0
    result = runner.invoke(
        app,
        [
            "agency",
            "add",
            "tijuana-municipal",
            "--name-en",
            "Tijuana Municipal Police",
            "--name-es",
            "Policía Municipal de Tijuana",
            "--compartment",
            "mx-asuntos-internos",
            "--country",
            "MX",
        ],
    )
    assert result.exit_code == 0, result.output
    result = add_reviewer("luis", "mx-asuntos-internos")
    assert result.exit_code == 0, result.output
    assert "otpauth://totp/Probity:luis" in result.output


def test_bad_input_gives_one_clear_line(cheap_kdf_env: Settings) -> None:
    _init(cheap_kdf_env)
    pw = "a long enough password\n"
    cases = [
        (["staff", "add", "x1", "--role", "sheriff", "--password-stdin"], "unknown role"),
        (["staff", "add", "admin", "--role", "reviewer", "--password-stdin"], "already exists"),
        (
            [
                "staff",
                "add",
                "x2",
                "--role",
                "reviewer",
                "--compartment",
                "nope",
                "--password-stdin",
            ],
            "no compartment named",
        ),
        (["compartment", "add", "oversight"], "already exists"),
        (
            ["agency", "add", "a1", "--name-en", "A", "--name-es", "A", "--compartment", "nope"],
            "no compartment named",
        ),
        (["init", "--password-stdin"], "already initialised"),
    ]
    for argv, fragment in cases:
        _assert_one_line_error(runner.invoke(app, argv, input=pw + pw), fragment)


def test_unreachable_database_is_one_line(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("PROBITY_DATABASE_URL", "postgresql://postgres:s3cret@127.0.0.1:1/x")
    result = runner.invoke(app, ["db", "upgrade"])
    _assert_one_line_error(result, "database unreachable")
    assert "s3cret" not in result.output


def test_commands_need_an_initialised_instance(cheap_kdf_env: Settings) -> None:
    _assert_one_line_error(runner.invoke(app, ["compartment", "add", "c1"]), "not initialised")


def test_demo_is_idempotent_and_prints_working_credentials(cheap_kdf_env: Settings) -> None:
    first = runner.invoke(app, ["demo"])
    assert first.exit_code == 0, first.output
    second = runner.invoke(app, ["demo"])
    assert second.exit_code == 0, second.output
    assert first.output == second.output
    for user in ("admin", "ana.reviewer", "marta.supervisora", "olga.oversight", "audrey.auditor"):
        assert user in first.output
    code = runner.invoke(app, ["demo", "totp", "ana.reviewer"])
    assert code.exit_code == 0
    secret = next(
        line.split("TOTP secret ")[1].strip()
        for line in first.output.splitlines()
        if "ana.reviewer" in line
    )
    assert pyotp.TOTP(secret).verify(code.output.strip(), valid_window=1)
    # Sample tips filed once through the real intake, so the staff queue has work to show.
    engine = make_engine(cheap_kdf_env.effective_database_url)
    try:
        with engine.connect() as connection:
            urgent = connection.execute(select(Tip.urgent)).scalars().all()
    finally:
        engine.dispose()
    assert sorted(urgent) == sorted([False] * (len(DEMO_TIPS) - 1) + [True])


def test_demo_refuses_a_real_instance(cheap_kdf_env: Settings) -> None:
    _init(cheap_kdf_env)
    _assert_one_line_error(runner.invoke(app, ["demo"]), "refusing to add demo data")
    _assert_one_line_error(runner.invoke(app, ["demo", "totp", "admin"]), "not a demo data")


def test_console_script_has_help_with_examples() -> None:
    probity = Path(sys.executable).parent / "probity"
    for argv in (["--help"], ["staff", "add", "--help"], ["init", "--help"]):
        result = subprocess.run(
            [str(probity), *argv], capture_output=True, text=True, check=False, timeout=60
        )
        assert result.returncode == 0, result.stderr
        assert "Usage" in result.stdout
    result = subprocess.run(
        [str(probity), "staff", "add", "--help"], capture_output=True, text=True, check=False
    )
    assert "Example" in result.stdout


def test_a_member_added_by_the_cli_waits_for_a_supervisors_approval(
    cheap_kdf_env: Settings,
) -> None:
    assert runner.invoke(app, ["demo"]).exit_code == 0
    result = add_reviewer("nuevo", "us-border-integrity")
    assert result.exit_code == 0, result.output
    engine = make_engine(cheap_kdf_env.effective_database_url)
    try:
        with engine.connect() as connection:
            approved = connection.execute(
                select(Membership.approved_at)
                .join(StaffUser, StaffUser.id == Membership.staff_id)
                .where(StaffUser.username == "nuevo")
            ).all()
            queued = connection.scalar(
                select(func.count())
                .select_from(PendingAccessChange)
                .join(StaffUser, StaffUser.id == PendingAccessChange.staff_id)
                .where(StaffUser.username == "nuevo")
            )
    finally:
        engine.dispose()
    # Four-eyes: the demo's supervisors must approve before any key add is queued.
    assert [row.approved_at for row in approved] == [None]
    assert queued == 0


def test_compartment_add_is_audited(cheap_kdf_env: Settings) -> None:
    """The operator's `probity compartment add` is recorded like the admin page's."""
    _init(cheap_kdf_env)
    assert runner.invoke(app, ["compartment", "add", "evil"]).exit_code == 0
    engine = make_engine(cheap_kdf_env.database_url)
    with engine.connect() as connection:
        query = select(func.count()).where(AuditEntry.action == "compartment.created")
        assert connection.scalar(query) == 1
    engine.dispose()
