"""`probity audit ...`: the log's key, export, offline verification, the signer's alarm and the
content-free case list.

`verify` needs no database and no settings: only the export, a checkpoint and the public key.
"""

from __future__ import annotations

import itertools
import json
import os
import sys
from collections.abc import Iterator
from datetime import datetime
from pathlib import Path
from typing import Annotated, BinaryIO

import typer
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn
from sqlalchemy.orm import Session

from service.audit.alarm import clear_alarm, read_alarm
from service.audit.cases import CaseFilters, case_csv, record_case_export
from service.audit.checkpoints import resolve_alarm
from service.audit.export import ExportResult, export_log
from service.audit.rotation import rotate_log_key
from service.audit.verify import VerifyReport, verify_export
from service.cli_common import cli_errors, err, fail, out, with_session
from service.config import Settings
from service.db import utcnow
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


def _write_cases(session: Session, filters: CaseFilters, out_file: BinaryIO) -> int:
    # Audited and committed before the first row is written, as over HTTP.
    today = utcnow().date()
    count = record_case_export(session, actor="system", filters=filters, via="cli", today=today)
    session.commit()
    with _progress() as bar:
        task = bar.add_task("Writing the case list", total=count)
        for chunk in case_csv(
            session,
            filters,
            today=today,
            progress=lambda done: bar.update(task, completed=done),
        ):
            out_file.write(chunk)
    return count


def _day_option(help_text: str) -> typer.models.OptionInfo:
    option: typer.models.OptionInfo = typer.Option(
        formats=["%Y-%m-%d"], show_default=False, metavar="YYYY-MM-DD", help=help_text
    )
    return option


@app.command("cases")
@cli_errors
def cases(
    file: Annotated[str, typer.Argument(help="Where to write the CSV; - for standard output.")],
    compartment: Annotated[
        str | None, typer.Option(help="Only this compartment (its name).")
    ] = None,
    closed_since: Annotated[
        datetime | None, _day_option("Only tips closed on or after this UTC day.")
    ] = None,
    closed_until: Annotated[
        datetime | None, _day_option("Only tips closed on or before this UTC day.")
    ] = None,
) -> None:
    """Write the content-free case list as CSV: one row per tip (id, compartment, agency,
    status, days received/acknowledged/closed, findings, deadlines, flags). Audited.

    Example: probity audit cases cases.csv --compartment us --closed-since 2026-01-01
    """
    filters = CaseFilters(
        compartment,
        closed_since.date() if closed_since else None,
        closed_until.date() if closed_until else None,
    )
    if file == "-":
        with_session(lambda session, _: _write_cases(session, filters, sys.stdout.buffer))
        sys.stdout.buffer.flush()
        return
    target = Path(file)
    partial = target.with_name(target.name + ".partial")
    try:
        with partial.open("wb") as out_file:
            count = with_session(lambda session, _: _write_cases(session, filters, out_file))
            out_file.flush()
            os.fsync(out_file.fileno())
        os.replace(partial, target)
    finally:
        partial.unlink(missing_ok=True)  # a refused or failed run leaves no file behind
    _say(f"Wrote {count} tips to {target}.")


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
