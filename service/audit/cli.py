"""`probity audit ...`: the log's key, export, offline verification and the signer's alarm.

`verify` needs no database and no settings: only the export, a checkpoint and the public key.
"""

from __future__ import annotations

import itertools
import json
from collections.abc import Iterator
from pathlib import Path
from typing import Annotated, BinaryIO

import typer
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn
from sqlalchemy.orm import Session

from service.audit.alarm import clear_alarm, read_alarm
from service.audit.checkpoints import resolve_alarm
from service.audit.export import ExportResult, export_log
from service.audit.rotation import rotate_log_key
from service.audit.verify import VerifyReport, verify_export
from service.cli_common import cli_errors, err, fail, out, with_session
from service.config import Settings
from service.errors import HistoryMismatch, VerificationError
from service.instance.keys import load_log_signer

__all__ = ["app"]

app = typer.Typer(help="The tamper-evident audit log.", no_args_is_help=True)


def _progress() -> Progress:
    return Progress(
        TextColumn("{task.description}"),
        BarColumn(),
        MofNCompleteColumn(),
        TimeElapsedColumn(),
        console=err,
        transient=True,
        disable=not err.is_terminal,  # no bar in logs and pipes
    )


def _say(text: str) -> None:
    out.print(text, markup=False, highlight=False, soft_wrap=True)


@app.command("key")
@cli_errors
def key() -> None:
    """Print the log's public key (a signed-note verifier key) for auditors.

    Example: probity audit key > probity-log.pub
    """
    _say(load_log_signer(Settings().effective_keys_dir).verifier.encode())


@app.command("export")
@cli_errors
def export(
    file: Annotated[Path, typer.Argument(help="Where to write the export (JSON Lines).")],
) -> None:
    """Export every entry up to the newest signed checkpoint; the checkpoint is written beside
    the export as FILE.checkpoint.

    Example: probity audit export audit.jsonl
    """
    with _progress() as bar:
        task = bar.add_task("Exporting", total=None)

        def action(session: Session, settings: Settings) -> ExportResult:
            def progress(done: int, total: int) -> None:
                bar.update(task, completed=done, total=total)

            return export_log(session, settings, file, progress)

        result = with_session(action)
    _say(f"Exported {result.size} entries of {result.origin} to {result.path}.")
    _say(f"Checkpoint written to {result.checkpoint}.")


def _declared_size(first: bytes) -> int | None:
    try:
        size = json.loads(first).get("size")
    except (ValueError, AttributeError):
        return None
    return size if isinstance(size, int) else None


def _verify(stream: BinaryIO, checkpoint: str, key_text: str, trusted: str | None) -> VerifyReport:
    first = stream.readline()
    lines: Iterator[bytes] = itertools.chain([first], stream)
    with _progress() as bar:
        task = bar.add_task("Verifying", total=_declared_size(first))
        return verify_export(
            lines,
            checkpoint=checkpoint,
            key=key_text,
            trusted=trusted,
            progress=lambda done: bar.update(task, completed=done),
        )


@app.command("verify")
@cli_errors
def verify(
    file: Annotated[Path, typer.Argument(help="The export written by `probity audit export`.")],
    checkpoint: Annotated[Path, typer.Option(help="Signed checkpoint the export must match.")],
    key: Annotated[Path, typer.Option(help="The log's public key (`probity audit key`).")],
    trusted: Annotated[
        Path | None, typer.Option(help="An older checkpoint you trust; must be consistent.")
    ] = None,
) -> None:
    """Check an export offline: every entry, the checkpoint's signature and root, and
    consistency with an older trusted checkpoint. Exit 1 names the first bad entry.

    --key is the key you pinned, possibly an old one: the export's key rotations (each signed
    by both keys, its root checked against the log) lead from it to the key that signs the
    checkpoint, and the chain followed is printed. A trusted checkpoint the log no longer
    contains passes only with a restore statement naming it; the lost entries are then printed
    as a WARNING (exit 0).

    Example: probity audit verify audit.jsonl --checkpoint audit.jsonl.checkpoint
    --key probity-log.pub --trusted last-month.checkpoint
    """
    old = trusted.read_text(encoding="utf-8") if trusted is not None else None
    note, key_text = checkpoint.read_text(encoding="utf-8"), key.read_text(encoding="utf-8")
    try:
        with file.open("rb") as stream:
            report = _verify(stream, note, key_text.strip(), old)
    except VerificationError as exc:
        raise fail(f"verification failed: {exc.detail}") from None
    _say("Key chain followed:")
    for step in report.chain:
        _say(f"  {step}")
    _say(f"The checkpoint is signed by {report.checkpoint_key}.")
    for warning in report.warnings:
        _say(f"WARNING: {warning}")
    _say(f"OK: {report.size} entries of {report.origin} match the signed checkpoint.")
    _say(f"Root {report.root_hex}")
    if report.trusted_size is not None:
        _say(f"Consistent with the trusted checkpoint of {report.trusted_size} entries.")
    if report.entries > report.size:
        _say(f"{report.entries - report.size} later entries are not covered by this checkpoint.")


@app.command("rotate-key")
@cli_errors
def rotate_key() -> None:
    """Make a new log signing key (same name, new key id) and switch to it. The log is signed
    once more with the old key; a rotation statement naming both keys and that tree head, signed
    by both, is stored, logged and exported; the old private key is kept aside as
    log-signing.<id>.retired.key. Auditors holding the old key follow the statement
    (`probity audit verify`); give them the new key too. Prints the statement.

    Example: probity audit rotate-key > rotation.note && probity audit key > probity-log.pub
    """
    result = with_session(rotate_log_key)
    typer.echo(result.statement, nl=False)
    err.print(
        f"Rotated the log key at tree size {result.size}: {result.old.id:08x} -> "
        f"{result.new.id:08x}. New verifier key: {result.new.encode()}",
        markup=False,
        highlight=False,
        soft_wrap=True,
    )


alarm_app = typer.Typer(help="The log signer's alarm (a rewritten history).", no_args_is_help=True)
app.add_typer(alarm_app, name="alarm")


@alarm_app.command("status")
@cli_errors
def alarm_status() -> None:
    """Say whether the signer's alarm is on (exit 1 when it is).

    Example: probity audit alarm status
    """
    alarm = read_alarm(Settings().effective_keys_dir)
    if alarm is None:
        _say("No alarm: the log signer is signing.")
        return
    _say(f"ALARM: {alarm.reason} (log size {alarm.tree_size}, raised {alarm.raised_at}).")
    _say("Nothing is signed until it is cleared; see docs/operations.md.")
    raise typer.Exit(code=1)


@alarm_app.command("clear")
@cli_errors
def alarm_clear(
    accept_current: Annotated[
        bool,
        typer.Option(
            help="After restoring a backup older than the last signature: forget that signature "
            "(kept as audit-last-signed.note.superseded) and trust the restored log."
        ),
    ] = False,
) -> None:
    """Check the log again and clear the alarm if the check passes (an audit entry says so).

    Example: probity audit alarm clear     (after restoring: --accept-current)
    """

    def action(session: Session, settings: Settings) -> str:
        try:
            return resolve_alarm(session, settings, accept_current=accept_current)
        except HistoryMismatch as exc:
            raise fail(f"the log still fails the signer's check: {exc.reason}") from None

    reason = with_session(action)
    clear_alarm(Settings().effective_keys_dir)  # only once the audit entry has committed
    _say(f"Alarm cleared (was: {reason}); the signer will sign again.")
