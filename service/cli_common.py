"""What every `probity` command shares: consoles, one-line errors, secrets from stdin, a session.

Command modules (service/<domain>/cli.py, assembled by service/cli.py) import from here.
"""

from __future__ import annotations

import functools
import sys
import unicodedata
from collections.abc import Callable
from pathlib import Path
from typing import Annotated, ParamSpec, TypeVar

import typer
from rich.console import Console
from rich.markup import escape
from sqlalchemy import Engine, text
from sqlalchemy.exc import OperationalError, SQLAlchemyError
from sqlalchemy.orm import Session

from crypto.age import decrypt_with_passphrase
from crypto.errors import CryptoError
from service.config import Settings
from service.db import make_engine, make_session_factory, session_scope
from service.errors import ProbityError
from service.instance.setup import is_initialised

__all__ = [
    "PasswordStdin",
    "cli_errors",
    "engine_for",
    "err",
    "fail",
    "out",
    "read_secrets",
    "with_session",
]

out = Console(soft_wrap=True)
err = Console(stderr=True)
P = ParamSpec("P")
R = TypeVar("R")

PasswordStdin = Annotated[
    bool, typer.Option("--password-stdin", help="Read secrets from standard input, one a line.")
]


def _shown(message: str) -> str:
    """Control and format characters as visible escapes: an error may quote a name from a
    hostile file (a forged bundle's tar member or manifest path), whose escape sequences could
    otherwise erase the error line and print a fake "OK" on the operator's terminal."""
    return "".join(_visible(ch) for ch in message)


def _visible(ch: str) -> str:
    if ch == "\n" or unicodedata.category(ch) not in ("Cc", "Cf"):
        return ch
    return f"\\x{ord(ch):02x}" if ord(ch) < 0x100 else f"\\u{ord(ch):04x}"


def fail(message: str) -> typer.Exit:
    err.print(f"[bold red]error:[/] {escape(_shown(message))}", highlight=False, soft_wrap=True)
    return typer.Exit(code=1)


def cli_errors(func: Callable[P, R]) -> Callable[P, R]:
    """Turn known failures into one clear line and exit status 1."""

    @functools.wraps(func)
    def wrapper(*args: P.args, **kwargs: P.kwargs) -> R:
        try:
            return func(*args, **kwargs)
        except ProbityError as exc:
            raise fail(exc.detail) from None
        except OperationalError as exc:
            if _reachable(Settings()):
                raise fail(f"database error: {type(exc.orig).__name__}") from None
            raise fail(f"database unreachable ({_safe_url(Settings())})") from None
        except SQLAlchemyError as exc:
            raise fail(f"database error: {type(exc).__name__}") from None
        except CryptoError as exc:
            raise fail(str(exc)) from None
        except OSError as exc:
            raise fail(f"{exc.strerror or exc}: {exc.filename or ''}".rstrip(": ")) from None

    return wrapper


def _safe_url(settings: Settings) -> str:
    from sqlalchemy.engine import make_url

    return make_url(settings.effective_database_url).render_as_string(hide_password=True)


def _reachable(settings: Settings) -> bool:
    engine = engine_for(settings)
    try:
        with engine.connect() as connection:
            connection.execute(text("SELECT 1"))
        return True
    except SQLAlchemyError:
        return False
    finally:
        engine.dispose()


def engine_for(settings: Settings) -> Engine:
    return make_engine(settings.effective_database_url)


def read_recovery_identity(path: Path, from_stdin: bool) -> str:
    """The AGE-SECRET-KEY in the passphrase-protected recovery file from `probity init`
    (passphrase from standard input or a prompt): `probity access recover`, `staff recover`,
    `export` and `restore`."""
    if from_stdin:
        passphrase = sys.stdin.readline().rstrip("\n")
    else:
        passphrase = typer.prompt("Recovery key passphrase", hide_input=True)
    try:
        text = decrypt_with_passphrase(path.read_bytes(), passphrase).decode()
    except CryptoError:
        raise fail(f"{path}: wrong passphrase, or not a recovery key file") from None
    except OSError as exc:
        raise fail(f"{path}: {exc.strerror or exc}") from None
    for line in text.splitlines():
        if line.startswith("AGE-SECRET-KEY-"):
            return line.strip()
    raise fail(f"{path} holds no age identity")


def read_secrets(count: int, from_stdin: bool, prompts: list[str]) -> list[str]:
    if from_stdin:
        lines = sys.stdin.read().splitlines()
        if len(lines) < count:
            raise fail(f"expected {count} line(s) on standard input")
        return lines[:count]
    return [typer.prompt(p, hide_input=True, confirmation_prompt=True) for p in prompts]


def with_session(action: Callable[[Session, Settings], R]) -> R:
    settings = Settings()
    engine = engine_for(settings)
    try:
        factory = make_session_factory(engine)
        with session_scope(factory) as session:
            if not is_initialised(session):
                raise fail("instance not initialised; run `probity init` first")
            return action(session, settings)
    finally:
        engine.dispose()
