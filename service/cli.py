"""The `probity` command.

Every failure is one line on stderr and a non-zero exit, never a traceback. Shared helpers live in
service/cli_common.py; the audit and conflict commands in their own packages.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Annotated

import pyotp
import typer
from sqlalchemy.orm import Session

from service.audit.cli import app as audit_app
from service.cli_common import (
    PasswordStdin,
    cli_errors,
    engine_for,
    out,
    read_secrets,
    with_session,
)
from service.config import Settings
from service.instance.demo import demo_totp_secret, ensure_demo
from service.instance.setup import initialise, kdf_params
from service.logging import configure_logging
from service.migrations import upgrade
from service.staff.admin import add_agency_as, add_compartment_as, add_staff_as
from service.staff.cli import access_app, conflict_app
from service.staff.service import parse_role

__all__ = ["app"]

app = typer.Typer(
    help="Probity: confidential misconduct-reporting intake.",
    no_args_is_help=True,
    pretty_exceptions_enable=False,
)
db_app = typer.Typer(help="Database schema.", no_args_is_help=True)
staff_app = typer.Typer(help="Staff accounts.", no_args_is_help=True)
compartment_app = typer.Typer(help="Compartments.", no_args_is_help=True)
agency_app = typer.Typer(help="Agencies and their routing.", no_args_is_help=True)
demo_app = typer.Typer(help="Demo data for trying Probity out.", invoke_without_command=True)


@app.callback()
def _configure() -> None:
    # Whatever a command creates (database, keys, demo files) is the service user's alone.
    os.umask(0o077)
    configure_logging(Settings().log_level)


app.add_typer(db_app, name="db")
app.add_typer(staff_app, name="staff")
app.add_typer(compartment_app, name="compartment")
app.add_typer(agency_app, name="agency")
app.add_typer(demo_app, name="demo")
app.add_typer(audit_app, name="audit")
app.add_typer(conflict_app, name="conflict")
app.add_typer(access_app, name="access")


@app.command()
@cli_errors
def init(
    admin: Annotated[str, typer.Option(help="Username of the first admin.")] = "admin",
    recovery_file: Annotated[
        Path,
        typer.Option(help="Where to write the passphrase-protected recovery key (keep offline)."),
    ] = Path("probity-recovery-key.age"),
    log_name: Annotated[str, typer.Option(help="Name of the audit log's signing key.")] = (
        "probity.local/audit"
    ),
    password_stdin: PasswordStdin = False,
) -> None:
    """Create the database, keys, recovery key file and first admin.

    Example: printf '%s\\n%s\\n' "$ADMIN_PW" "$RECOVERY_PASSPHRASE" | probity init --password-stdin
    """
    settings = Settings()
    password, passphrase = read_secrets(
        2, password_stdin, ["Admin password", "Recovery key passphrase"]
    )
    engine = engine_for(settings)
    try:
        result = initialise(
            engine,
            settings,
            admin_username=admin,
            admin_password=password,
            recovery_file=recovery_file,
            recovery_passphrase=passphrase,
            log_name=log_name,
        )
    finally:
        engine.dispose()
    out.print(f"Initialised. Admin [bold]{admin}[/] TOTP (scan once, it is not shown again):")
    out.print(result.admin_totp_uri, soft_wrap=True, highlight=False)
    out.print(f"Recovery key written to {result.recovery_file}: move it offline now.")
    out.print(f"Audit log key: {result.log_vkey}", soft_wrap=True, highlight=False)


@db_app.command("upgrade")
@cli_errors
def db_upgrade() -> None:
    """Apply every pending migration. Example: probity db upgrade"""
    engine = engine_for(Settings())
    try:
        upgrade(engine)
    finally:
        engine.dispose()
    out.print("Database is at the newest schema.")


@app.command()
@cli_errors
def serve(
    host: Annotated[str, typer.Option(help="Address to bind.")] = "127.0.0.1",
    port: Annotated[int, typer.Option(help="Port to bind.")] = 8000,
    workers: Annotated[int, typer.Option(help="Worker processes.")] = 1,
) -> None:
    """Serve HTTP. Example: probity serve --host 0.0.0.0 --port 8000 --workers 2

    Timeouts and the connection limit come from PROBITY_HTTP_* settings (README).
    """
    import uvicorn

    from service.server import uvicorn_options

    uvicorn.run(
        "routes.app:create_app",
        factory=True,
        host=host,
        port=port,
        workers=workers,
        **uvicorn_options(Settings()),
    )


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


@compartment_app.command("add")
@cli_errors
def compartment_add(
    name: Annotated[str, typer.Argument(help="Compartment name.")],
    oversight: Annotated[bool, typer.Option(help="Independent oversight compartment.")] = False,
) -> None:
    """Add a compartment. Example: probity compartment add us-border-integrity"""
    with_session(lambda s, _s: add_compartment_as(s, "system", name=name, oversight=oversight))
    out.print(f"Added compartment {name}.")


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


@demo_app.callback()
@cli_errors
def demo(ctx: typer.Context) -> None:
    """Initialise with demo data (safe to run again) and print the demo accounts.

    Example: PROBITY_DATA_DIR=./var probity demo
    """
    if ctx.invoked_subcommand is not None:
        return
    settings = Settings()
    engine = engine_for(settings)
    try:
        accounts = ensure_demo(engine, settings)
    finally:
        engine.dispose()
    out.print("[bold]Demo instance ready[/] (demo data only: never real reports).")
    for account in accounts:
        out.print(
            f"  {account.username:<20} {account.role:<11} password {account.password}"
            f"  TOTP secret {account.totp_secret}",
            highlight=False,
            soft_wrap=True,
        )
    out.print("Current TOTP code for an account: probity demo totp USERNAME")


@demo_app.command("totp")
@cli_errors
def demo_totp(username: Annotated[str, typer.Argument(help="Demo account.")]) -> None:
    """Print a demo account's current TOTP code. Example: probity demo totp ana.reviewer"""
    out.print(pyotp.TOTP(demo_totp_secret(Settings(), username)).now())


@app.command()
@cli_errors
def worker(
    once: Annotated[bool, typer.Option(help="Run every job once and exit (tests, cron).")] = False,
) -> None:
    """Run periodic jobs: audit flushes and checkpoints (see PROBITY_*_SECONDS).

    Example: probity worker            (or, from cron: probity worker --once)
    """
    import signal
    import threading

    from service.worker import run_forever, run_once, worker_engine

    settings = Settings()
    engine = worker_engine(settings)
    try:
        with_session(lambda _session, _settings: None)  # refuses an uninitialised instance
        if once:
            for job, count in run_once(engine, settings).items():
                out.print(f"{job}: {count}", highlight=False)
            return
        stop = threading.Event()
        signal.signal(signal.SIGTERM, lambda *_: stop.set())
        try:
            run_forever(engine, settings, stop)
        except KeyboardInterrupt:
            stop.set()
    finally:
        engine.dispose()
