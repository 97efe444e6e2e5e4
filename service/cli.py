"""The `probity` command.

Every failure is one line on stderr and a non-zero exit, never a traceback.
"""

from __future__ import annotations

import functools
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Annotated, ParamSpec, TypeVar

import pyotp
import typer
from rich.console import Console
from rich.markup import escape
from sqlalchemy import Engine, text
from sqlalchemy.exc import OperationalError, SQLAlchemyError
from sqlalchemy.orm import Session

from crypto.errors import CryptoError
from service.agencies.service import add_agency
from service.compartments.service import add_compartment
from service.config import Settings
from service.db import make_engine, make_session_factory, session_scope
from service.errors import ProbityError
from service.instance.demo import demo_totp_secret, ensure_demo
from service.instance.setup import initialise, is_initialised, kdf_params
from service.logging import configure_logging
from service.migrations import upgrade
from service.staff.service import create_staff, parse_role

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
    configure_logging(Settings().log_level)


app.add_typer(db_app, name="db")
app.add_typer(staff_app, name="staff")
app.add_typer(compartment_app, name="compartment")
app.add_typer(agency_app, name="agency")
app.add_typer(demo_app, name="demo")

out = Console(soft_wrap=True)
err = Console(stderr=True)
P = ParamSpec("P")
R = TypeVar("R")

PasswordStdin = Annotated[
    bool, typer.Option("--password-stdin", help="Read secrets from standard input, one a line.")
]


def _fail(message: str) -> typer.Exit:
    err.print(f"[bold red]error:[/] {escape(message)}", highlight=False, soft_wrap=True)
    return typer.Exit(code=1)


def cli_errors(func: Callable[P, R]) -> Callable[P, R]:
    """Turn known failures into one clear line and exit status 1."""

    @functools.wraps(func)
    def wrapper(*args: P.args, **kwargs: P.kwargs) -> R:
        try:
            return func(*args, **kwargs)
        except ProbityError as exc:
            raise _fail(exc.detail) from None
        except OperationalError as exc:
            if _reachable(Settings()):
                raise _fail(f"database error: {type(exc.orig).__name__}") from None
            raise _fail(f"database unreachable ({_safe_url(Settings())})") from None
        except SQLAlchemyError as exc:
            raise _fail(f"database error: {type(exc).__name__}") from None
        except CryptoError as exc:
            raise _fail(str(exc)) from None
        except OSError as exc:
            raise _fail(f"{exc.strerror or exc}: {exc.filename or ''}".rstrip(": ")) from None

    return wrapper


def _safe_url(settings: Settings) -> str:
    from sqlalchemy.engine import make_url

    return make_url(settings.effective_database_url).render_as_string(hide_password=True)


def _reachable(settings: Settings) -> bool:
    engine = _engine(settings)
    try:
        with engine.connect() as connection:
            connection.execute(text("SELECT 1"))
        return True
    except SQLAlchemyError:
        return False
    finally:
        engine.dispose()


def _engine(settings: Settings) -> Engine:
    return make_engine(settings.effective_database_url)


def _read_secrets(count: int, from_stdin: bool, prompts: list[str]) -> list[str]:
    if from_stdin:
        lines = sys.stdin.read().splitlines()
        if len(lines) < count:
            raise _fail(f"expected {count} line(s) on standard input")
        return lines[:count]
    return [typer.prompt(p, hide_input=True, confirmation_prompt=True) for p in prompts]


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
    password, passphrase = _read_secrets(
        2, password_stdin, ["Admin password", "Recovery key passphrase"]
    )
    engine = _engine(settings)
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
    engine = _engine(Settings())
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
    """Serve HTTP. Example: probity serve --host 0.0.0.0 --port 8000 --workers 2"""
    import uvicorn

    # No access log: it would record client addresses and user agents.
    uvicorn.run(
        "routes.app:create_app",
        factory=True,
        host=host,
        port=port,
        workers=workers,
        access_log=False,
        log_config=None,
        server_header=False,
        proxy_headers=False,
    )


def _with_session(action: Callable[[Session, Settings], R]) -> R:
    settings = Settings()
    engine = _engine(settings)
    try:
        factory = make_session_factory(engine)
        with session_scope(factory) as session:
            if not is_initialised(session):
                raise _fail("instance not initialised; run `probity init` first")
            return action(session, settings)
    finally:
        engine.dispose()


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
    (password,) = _read_secrets(1, password_stdin, [f"Password for {username}"])

    def action(session: Session, settings: Settings) -> str:
        new = create_staff(
            session,
            username=username,
            role=parsed_role,
            password=password,
            kdf=kdf_params(settings),
            compartments=compartment or [],
        )
        return new.totp_uri

    uri = _with_session(action)
    out.print(f"Added {username} ({parsed_role.value}). TOTP, shown once:")
    out.print(uri, soft_wrap=True, highlight=False)


@compartment_app.command("add")
@cli_errors
def compartment_add(
    name: Annotated[str, typer.Argument(help="Compartment name.")],
    oversight: Annotated[bool, typer.Option(help="Independent oversight compartment.")] = False,
) -> None:
    """Add a compartment. Example: probity compartment add us-border-integrity"""
    _with_session(lambda session, _s: add_compartment(session, name, oversight=oversight))
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
    """Add an agency. Example: probity agency add el-paso-pd --name-en "El Paso Police Department"
    --name-es "Departamento de Policía de El Paso" --compartment us-border-integrity --country US
    """
    _with_session(
        lambda session, _s: add_agency(
            session,
            slug=slug,
            name_en=name_en,
            name_es=name_es,
            compartment=compartment,
            country=country,
        )
    )
    out.print(f"Added agency {slug}.")


@demo_app.callback()
@cli_errors
def demo(ctx: typer.Context) -> None:
    """Initialise with demo data (safe to run again) and print the demo accounts.

    Example: PROBITY_DATA_DIR=./var probity demo
    """
    if ctx.invoked_subcommand is not None:
        return
    settings = Settings()
    engine = _engine(settings)
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
