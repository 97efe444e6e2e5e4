"""`probity staff add`."""

from __future__ import annotations

from typing import Annotated

import typer
from sqlalchemy.orm import Session

from service.cli_common import PasswordStdin, cli_errors, out, read_secrets, with_session
from service.config import Settings
from service.instance.setup import kdf_params
from service.staff.admin import add_staff_as
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
