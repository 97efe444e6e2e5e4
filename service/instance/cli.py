"""The instance's own commands: `probity init`, `db upgrade`, `serve`, `worker` and `demo`
(service/cli.py puts them on the root command)."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import pyotp
import typer

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
from service.instance.setup import initialise
from service.migrations import upgrade

__all__ = ["db_app", "demo_app", "init", "serve", "worker"]

db_app = typer.Typer(help="Database schema.", no_args_is_help=True)
demo_app = typer.Typer(help="Demo data for trying Probity out.", invoke_without_command=True)


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
