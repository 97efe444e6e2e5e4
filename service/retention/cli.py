"""`probity compartment retention` (registered on the compartment commands by service/cli.py)."""

from __future__ import annotations

from typing import Annotated

import typer
from sqlalchemy.orm import Session

from service.cli_common import cli_errors, out, with_session
from service.compartments.repository import get_compartment
from service.config import Settings
from service.retention.service import MAX_RETENTION_DAYS, retention_of, set_retention

__all__ = ["compartment_retention"]


@cli_errors
def compartment_retention(
    name: Annotated[str, typer.Argument(help="Compartment name.")],
    days: Annotated[
        int | None,
        typer.Option(min=1, max=MAX_RETENTION_DAYS, help="Keep closed tips this many days."),
    ] = None,
    default: Annotated[
        bool, typer.Option("--default", help="Go back to PROBITY_RETENTION_DAYS.")
    ] = False,
) -> None:
    """Show or set how long a compartment keeps closed tips before their purge is requested.

    Example: probity compartment retention us-border-integrity --days 730
    """
    if days is not None and default:
        raise typer.BadParameter("give --days or --default, not both")

    def action(session: Session, settings: Settings) -> tuple[int, bool]:
        if days is not None or default:
            compartment = set_retention(session, "system", name, None if default else days)
        else:
            compartment = get_compartment(session, name)
        return retention_of(compartment, settings), compartment.retention_days is None

    kept, from_default = with_session(action)
    source = " (PROBITY_RETENTION_DAYS)" if from_default else ""
    out.print(f"{name}: closed tips are kept {kept} days{source}.")
