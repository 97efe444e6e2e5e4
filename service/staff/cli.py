"""`probity conflict ...`: the conflicts register."""

from __future__ import annotations

import typer

__all__ = ["conflict_app"]

conflict_app = typer.Typer(help="The conflicts register.", no_args_is_help=True)
