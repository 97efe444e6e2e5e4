"""`probity audit ...`: the log's key, export and offline verification."""

from __future__ import annotations

import typer

__all__ = ["app"]

app = typer.Typer(help="The tamper-evident audit log.", no_args_is_help=True)
