"""`probity backup FILE` and `probity restore FILE --recovery-file F` (service/cli.py puts them
on the root command)."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Annotated

import typer
from rich.progress import (
    BarColumn,
    DownloadColumn,
    Progress,
    TaskID,
    TextColumn,
    TimeElapsedColumn,
    TransferSpeedColumn,
)

from service.cli_common import (
    PasswordStdin,
    cli_errors,
    engine_for,
    err,
    out,
    read_recovery_identity,
)
from service.config import Settings
from service.instance.backup import create_backup
from service.instance.restore import restore_backup

__all__ = ["backup", "restore"]


class _Bar:
    """service.instance.archive.Progress drawn as a rich bar (on stderr, leaving stdout clean)."""

    def __init__(self, progress: Progress) -> None:
        self._progress = progress
        self._task: TaskID | None = None

    def begin(self, description: str, total: int) -> None:
        self.done()
        if total == 0:  # a step with nothing to count: a line, not a bar
            self._progress.console.print(f"{description}...", highlight=False)
            return
        self._task = self._progress.add_task(description, total=total)

    def advance(self, amount: int) -> None:
        if self._task is not None:
            self._progress.advance(self._task, amount)

    def done(self) -> None:
        """Show the running bar as complete (its total is an estimate: tar adds headers)."""
        if self._task is not None:
            task = self._progress.tasks[-1]
            self._progress.update(self._task, total=task.completed, completed=task.completed)
            self._task = None


@contextmanager
def _bar() -> Iterator[_Bar]:
    columns = (
        TextColumn("{task.description}"),
        BarColumn(),
        DownloadColumn(),
        TransferSpeedColumn(),
        TimeElapsedColumn(),
    )
    with Progress(*columns, console=err, transient=False) as progress:
        bar = _Bar(progress)
        yield bar
        bar.done()


@cli_errors
def backup(
    file: Annotated[Path, typer.Argument(help="The backup file to write (must not exist).")],
) -> None:
    """Write a consistent, encrypted backup of the running instance: the database and the
    keys directory, in one age file to the recovery key (and PROBITY_BACKUP_RECIPIENTS).

    Safe while the service runs. Example: probity backup /backups/probity-$(date +%F).age
    """
    settings = Settings()
    engine = engine_for(settings)
    try:
        with _bar() as bar:
            result = create_backup(engine, settings, file, progress=bar)
    finally:
        engine.dispose()
    checkpoint = result.manifest.checkpoint
    size = checkpoint.splitlines()[1] if checkpoint else "none"
    out.print(f"Backup written to {result.path} ({result.size} bytes).", highlight=False)
    out.print(f"Newest audit checkpoint inside: tree size {size}.", highlight=False)
    out.print(
        f"The retention keyring escrow is {result.keyring}: copy it off the server too, "
        "replacing your previous copy (a restore needs it; old copies undo purges).",
        highlight=False,
    )


@cli_errors
def restore(
    file: Annotated[Path, typer.Argument(help="A backup file written by `probity backup`.")],
    recovery_file: Annotated[
        Path, typer.Option(help="The passphrase-protected recovery key file from `probity init`.")
    ],
    last_checkpoint: Annotated[
        Path | None,
        typer.Option(
            help="The newest checkpoint published before the loss (auditors compare it with "
            "what the backup holds)."
        ),
    ] = None,
    keyring: Annotated[
        Path | None,
        typer.Option(
            help="The newest retention keyring escrow (retention-keyring.age) kept off the "
            "server; backups do not hold the bucket keys. Default: the keys directory's own."
        ),
    ] = None,
    force: Annotated[
        bool, typer.Option(help="Replace a database and keys directory that are not empty.")
    ] = False,
    password_stdin: PasswordStdin = False,
) -> None:
    """Restore a backup into the configured database and data directory, with the service
    stopped; records the restore in the audit log.

    Example: echo "$RECOVERY_PASSPHRASE" | probity restore /backups/probity-2026-12-03.age
    --recovery-file /media/offline/probity-recovery-key.age
    --keyring /media/offline/retention-keyring.age --last-checkpoint published.cp --password-stdin
    """
    identity = read_recovery_identity(recovery_file, password_stdin)
    last = last_checkpoint.read_text(encoding="utf-8") if last_checkpoint else None
    with _bar() as bar:
        result = restore_backup(
            Settings(),
            file,
            recovery_identity=identity,
            last_checkpoint=last,
            keyring=keyring,
            force=force,
            progress=bar,
        )
    out.print(f"Restored the backup of {result.manifest.created_at}.", highlight=False)
    if result.migrated_from is not None:
        out.print(f"Migrated its schema from {result.migrated_from} to the newest.")
    out.print(f"Put back {result.keys_loaded} retention bucket keys from the keyring.")
    if result.keys_unused:
        out.print(
            f"{result.keys_unused} keys of the keyring are for buckets no restored envelope uses: "
            "left out (fresh keys are made when needed).",
            highlight=False,
        )
    if result.envelopes_without_key:
        out.print(
            f"WARNING: {result.envelopes_without_key} key envelopes have no bucket key in this "
            "keyring (or not the key that sealed them) and will not open (a purge after the "
            "backup destroyed or replaced their bucket's key, or an older keyring).",
            highlight=False,
        )
    out.print(result.statement, highlight=False, soft_wrap=True)
