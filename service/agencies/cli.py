"""`probity agency add`."""

from __future__ import annotations

from typing import Annotated

import typer
from sqlalchemy.orm import Session

from service.agencies.service import add_agency_as
from service.cli_common import cli_errors, out, with_session
from service.config import Settings

__all__ = ["agency_app"]

agency_app = typer.Typer(help="Agencies and their routing.", no_args_is_help=True)


@agency_app.command("add")
@cli_errors
def agency_add(
    slug: Annotated[str, typer.Argument(help="Short id, e.g. el-paso-pd.")],
    name_en: Annotated[str, typer.Option("--name-en", help="Name in English.")],
    name_es: Annotated[str, typer.Option("--name-es", help="Name in Spanish.")],
    compartment: Annotated[str, typer.Option(help="Compartment its tips are routed to.")],
    country: Annotated[str, typer.Option(help="Two-letter country code, e.g. US or MX.")] = "",
) -> None:
    """Add an agency. Once a supervisor has been approved, it stays off the reporter form until a
    supervisor of the compartment (or of oversight) approves it at /staff/access.

    Example: probity agency add el-paso-pd --name-en "El Paso Police Department"
    --name-es "Departamento de Policía de El Paso" --compartment us-border-integrity --country US
    """

    def action(session: Session, _settings: Settings) -> str | None:
        request = add_agency_as(
            session,
            "system",
            slug=slug,
            name_en=name_en,
            name_es=name_es,
            compartment=compartment,
            country=country,
        )
        return str(request.id) if request else None

    request = with_session(action)
    if request is None:
        out.print(f"Added agency {slug}.")
        return
    out.print(
        f"Added agency {slug}, waiting for approval: it receives no report until a supervisor "
        f"approves request {request} at /staff/access.",
        highlight=False,
    )
