"""`probity compartment add`."""

from __future__ import annotations

from typing import Annotated

import typer
from sqlalchemy.orm import Session

from service.cli_common import cli_errors, out, with_session
from service.compartments.service import add_compartment_as
from service.config import Settings

__all__ = ["compartment_app"]

compartment_app = typer.Typer(help="Compartments.", no_args_is_help=True)


@compartment_app.command("add")
@cli_errors
def compartment_add(
    name: Annotated[str, typer.Argument(help="Compartment name.")],
    oversight: Annotated[bool, typer.Option(help="Independent oversight compartment.")] = False,
) -> None:
    """Add a compartment. Example: probity compartment add us-border-integrity"""

    def action(session: Session, _settings: Settings) -> None:
        add_compartment_as(session, "system", name=name, oversight=oversight)

    with_session(action)
    out.print(f"Added compartment {name}.")
