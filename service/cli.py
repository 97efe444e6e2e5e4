"""The `probity` command, assembled from each domain's cli.py (the commands live there).

Every failure is one line on stderr and a non-zero exit, never a traceback. Shared helpers live in
service/cli_common.py.
"""

from __future__ import annotations

import os

import typer

from service.access.cli import access_app, conflict_app
from service.agencies.cli import agency_app
from service.audit.cli import app as audit_app
from service.compartments.cli import compartment_app
from service.config import Settings
from service.export.cli import export_app
from service.instance.backup_cli import backup, restore
from service.instance.cli import db_app, demo_app, init, serve, worker
from service.logging import configure_logging
from service.retention.cli import compartment_retention
from service.staff.cli import staff_app

__all__ = ["app"]

app = typer.Typer(
    help="Probity: confidential misconduct-reporting intake.",
    no_args_is_help=True,
    pretty_exceptions_enable=False,
)


@app.callback()
def _configure() -> None:
    # Whatever a command creates (database, keys, demo files) is the service user's alone.
    os.umask(0o077)
    configure_logging(Settings().log_level)


app.command()(init)
app.command()(serve)
app.command()(worker)
app.command()(backup)
app.command()(restore)
app.add_typer(db_app, name="db")
app.add_typer(staff_app, name="staff")
compartment_app.command("retention")(compartment_retention)
app.add_typer(compartment_app, name="compartment")
app.add_typer(agency_app, name="agency")
app.add_typer(demo_app, name="demo")
app.add_typer(audit_app, name="audit")
app.add_typer(conflict_app, name="conflict")
app.add_typer(access_app, name="access")
app.add_typer(export_app, name="export")
