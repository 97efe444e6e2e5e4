"""`probity staff add` and `probity staff recover`."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn
from sqlalchemy.orm import Session

from service.cli_common import (
    PasswordStdin,
    cli_errors,
    err,
    fail,
    out,
    read_recovery_identity,
    read_secrets,
    with_session,
)
from service.config import Settings
from service.instance.setup import kdf_params
from service.staff.admin import add_staff_as
from service.staff.recovery import Recovered, recover_staff, request_recovery
from service.staff.service import parse_role

__all__ = ["staff_app"]

staff_app = typer.Typer(help="Staff accounts.", no_args_is_help=True)


@staff_app.command("add")
@cli_errors
def staff_add(
    username: Annotated[str, typer.Argument(help="Login name, lowercase.")],
    role: Annotated[str, typer.Option(help="reviewer, supervisor, admin or auditor.")],
    compartment: Annotated[
        list[str] | None, typer.Option(help="Compartment to join (repeatable).")
    ] = None,
    password_stdin: PasswordStdin = False,
) -> None:
    """Add a staff user and print their TOTP provisioning URI once.

    Example: echo "$PW" | probity staff add ana --role reviewer --compartment us --password-stdin
    """
    parsed_role = parse_role(role)
    (password,) = read_secrets(1, password_stdin, [f"Password for {username}"])

    def action(session: Session, settings: Settings) -> str:
        # As the admin page does: audited; a membership waits for a supervisor's approval
        # (except during the bootstrap: no supervisor ever approved).
        new = add_staff_as(
            session,
            "system",
            username=username,
            role=parsed_role,
            password=password,
            kdf=kdf_params(settings),
            compartments=compartment or [],
        )
        return new.totp_uri

    uri = with_session(action)
    out.print(f"Added {username} ({parsed_role.value}). TOTP, shown once:")
    out.print(uri, soft_wrap=True, highlight=False)
    if compartment:
        out.print(
            "Compartment memberships grant access once a supervisor of the compartment (or of "
            "oversight) approves them at /staff/access; only before any supervisor has been "
            "approved (a fresh install) are they approved at once."
        )


def _file_recovery_request(username: str) -> None:
    with_session(lambda session, _s: request_recovery(session, username=username, actor="system"))
    out.print(f"Filed a recovery request for {username}.", highlight=False)
    out.print(
        "A supervisor of oversight (never you, never the member) approves it at /staff/access; "
        "then run this command again with --recovery-file."
    )


def _run_recovery(username: str, identity: str) -> Recovered:
    bar = Progress(
        TextColumn("{task.description}"),
        BarColumn(),
        MofNCompleteColumn(),
        console=err,
        transient=True,
        disable=not err.is_terminal,  # no bar in logs and pipes
    )
    with bar:
        task = bar.add_task("Re-addressing envelopes", total=None)

        def step(done: int, total: int) -> None:
            bar.update(task, completed=done, total=total)

        def action(session: Session, settings: Settings) -> Recovered:
            now = settings.clock()
            return recover_staff(
                session, username=username, recovery_identity=identity, now=now, progress=step
            )

        return with_session(action)


@staff_app.command("recover")
@cli_errors
def staff_recover(
    username: Annotated[str, typer.Argument(help="The member who lost their password.")],
    request: Annotated[
        bool, typer.Option("--request", help="File the recovery request (step 1).")
    ] = False,
    recovery_file: Annotated[
        Path | None,
        typer.Option(help="The passphrase-protected recovery key file from `probity init`."),
    ] = None,
    password_stdin: PasswordStdin = False,
) -> None:
    """Recover a member who lost their password: file a request (--request), have a supervisor
    of oversight approve it at /staff/access, then run with the recovery key. The member gets a
    new identity with exactly the access they had, and a one-time link to choose a new password
    and TOTP. Their old password and sessions stop working.

    Example: probity staff recover ana --request; then echo "$RECOVERY_PASSPHRASE" |
    probity staff recover ana --recovery-file /media/offline/probity-recovery-key.age
    --password-stdin
    """
    if request == (recovery_file is not None):
        raise fail("give exactly one of --request or --recovery-file")
    if recovery_file is None:
        _file_recovery_request(username)
        return
    recovered = _run_recovery(username, read_recovery_identity(recovery_file, password_stdin))
    out.print(
        f"Recovered {username}: the envelopes of {recovered.tips} tip(s) now name their new "
        "identity. Their old password and sessions no longer work.",
        highlight=False,
    )
    out.print(
        "Hand this one-time link to them in person (append it to the staff site's address); it "
        f"expires at {recovered.expires_at:%Y-%m-%d %H:%M} UTC:",
        highlight=False,
    )
    out.print(f"/staff/enrol?token={recovered.token}", soft_wrap=True, highlight=False)
