"""`probity export TIP_ID --to age1...` (a referral bundle) and `probity export verify DIR`.

The operator produces the bundle with the offline recovery key (the tip's keys are opened with
it), for an export request a different supervisor has approved: the approval must match the
tip, the recipient and the variant, and is used up. `verify` needs no database and no settings.
"""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import datetime
from pathlib import Path
from typing import Annotated, Any

import typer
from rich.progress import (
    BarColumn,
    DownloadColumn,
    Progress,
    TextColumn,
    TimeElapsedColumn,
    TransferSpeedColumn,
)
from sqlalchemy.orm import Session
from typer.core import TyperGroup

from crypto.errors import CryptoError
from crypto.note import parse_verifier
from service.cli_common import (
    PasswordStdin,
    cli_errors,
    engine_for,
    err,
    fail,
    out,
    read_recovery_identity,
)
from service.config import Settings
from service.db import make_session_factory, session_scope
from service.errors import NotFound, VerificationError
from service.export.bundle import BundleStream, bundle_size_hint
from service.export.schemas import ExportOrder
from service.export.service import Exporter, ExportPlan, begin_export, find_approval, seal_export
from service.export.verify import verify_bundle
from service.instance.keys import load_log_signer
from service.instance.setup import is_initialised
from service.tips.models import Tip

__all__ = ["export_app"]


class _TipByDefault(TyperGroup):
    """`probity export TIP_ID ...` means `probity export tip TIP_ID ...`."""

    def parse_args(self, ctx: Any, args: list[str]) -> list[str]:
        if args and args[0] not in self.commands and not args[0].startswith("-"):
            args = ["tip", *args]
        return super().parse_args(ctx, args)


export_app = typer.Typer(
    cls=_TipByDefault,
    help="Referral bundles: export a tip (`probity export TIP_ID --to age1...`) or verify one.",
    no_args_is_help=True,
)


def _say(text: str) -> None:
    out.print(text, markup=False, highlight=False, soft_wrap=True)


def _progress() -> Progress:
    return Progress(
        TextColumn("{task.description}"),
        BarColumn(),
        DownloadColumn(),
        TransferSpeedColumn(),
        TimeElapsedColumn(),
        console=err,
        transient=True,
        disable=not err.is_terminal,  # no bar in logs and pipes
    )


@contextmanager
def _output(path: Path) -> Iterator[Any]:
    """The bundle file, removed again if the export fails (a partial file is useless)."""
    handle = path.open("xb")
    try:
        yield handle
    except BaseException:
        handle.close()
        path.unlink(missing_ok=True)
        raise
    handle.close()


def _stream(factory: Any, settings: Settings, plan: ExportPlan, out_file: Path) -> None:
    origin = load_log_signer(settings.effective_keys_dir).name

    def seal(manifest: bytes, exported_at: datetime) -> Any:
        with session_scope(factory) as session:
            return seal_export(session, settings, plan, manifest, exported_at)

    with _progress() as progress, _output(out_file) as handle:
        task = progress.add_task("Exporting", total=bundle_size_hint(plan))
        stream = BundleStream(
            plan,
            origin,
            reader=lambda: _reader(factory),
            seal=seal,
            progress=lambda n: progress.advance(task, n),
        )
        for chunk in stream.chunks():
            handle.write(chunk)
        handle.flush()


@contextmanager
def _reader(factory: Any) -> Iterator[Session]:
    session = factory()
    try:
        yield session
    finally:
        session.close()


@export_app.command("tip")
@cli_errors
def export_tip(
    tip_id: Annotated[str, typer.Argument(help="The tip's id.")],
    to: Annotated[str, typer.Option("--to", help="The external age recipient (age1...).")],
    recovery_file: Annotated[
        Path, typer.Option(help="The passphrase-protected recovery key file from `probity init`.")
    ],
    redacted: Annotated[
        bool, typer.Option("--redacted", help="The redacted variant (nothing identifying).")
    ] = False,
    out_file: Annotated[
        Path | None, typer.Option("--out", help="Where to write the bundle (new file).")
    ] = None,
    password_stdin: PasswordStdin = False,
) -> None:
    """Write a tip's referral bundle: one age file to the recipient, for an export request a
    different supervisor approved (same tip, recipient and variant). Uses the approval up.

    Example: echo "$RECOVERY_PASSPHRASE" | probity export 3f2a... --to age1... --redacted
    --recovery-file /media/offline/probity-recovery-key.age --password-stdin --out referral.age
    """
    try:
        wanted = uuid.UUID(tip_id)
    except ValueError:
        raise fail("TIP_ID: not a tip id") from None
    order = ExportOrder.parse(to, redacted=redacted, notes=[])
    target = out_file or Path(f"referral-{wanted.hex[:8]}.age")
    if target.exists():
        raise fail(f"{target}: already exists")
    identity = read_recovery_identity(recovery_file, password_stdin)
    settings = Settings()
    engine = engine_for(settings)
    try:
        factory = make_session_factory(engine)
        with session_scope(factory) as session:
            if not is_initialised(session):
                raise fail("instance not initialised; run `probity init` first")
            if session.get(Tip, wanted) is None:
                raise NotFound("no such tip")
            approval = find_approval(session, wanted, order)
            exporter = Exporter(None, "operator", identity)
            plan = begin_export(
                session,
                tip_id=wanted,
                approval_id=approval,
                exporter=exporter,
                settings=settings,
                expect=order,
            )
        _stream(factory, settings, plan, target)
    finally:
        engine.dispose()
    _say(f"Wrote {target}: the {order.variant.value} referral bundle of tip {wanted}")
    _say(f"for {order.recipient} (decrypt with: age -d -i KEY {target} | tar -x).")


@export_app.command("verify")
@cli_errors
def export_verify(
    bundle_dir: Annotated[
        Path, typer.Argument(help="The decrypted, unpacked bundle (a directory).")
    ],
    key: Annotated[Path, typer.Option(help="The log's public key (`probity audit key`).")],
    checkpoint: Annotated[
        Path, typer.Option(help="A signed checkpoint of the log you trust (the newest you have).")
    ],
    consistency_proof: Annotated[
        Path | None,
        typer.Option(help="JSON from /api/v1/audit/proofs/consistency, when the sizes differ."),
    ] = None,
) -> None:
    """Verify an unpacked referral bundle offline: every file against the signed manifest, the
    audit entry naming the manifest, and the entry's inclusion in the log. Exit 1 on tampering.

    Example: mkdir bundle && age -d -i key.txt referral.age | tar -x -C bundle &&
    probity export verify bundle --key probity-log.pub --checkpoint newest.checkpoint
    """
    try:
        verifier = parse_verifier(key.read_text(encoding="utf-8").strip())
    except CryptoError as exc:
        raise fail(f"--key: {exc}") from None
    note = checkpoint.read_text(encoding="utf-8")
    try:
        report = verify_bundle(bundle_dir, verifier, note, consistency_proof=consistency_proof)
    except VerificationError as exc:
        raise fail(f"verification failed: {exc.detail}") from None
    _say(f"OK: the referral bundle of tip {report.tip} is intact and on the audit log.")
    _say(f"Variant {report.variant}, {report.files} files, for {report.recipient}.")
    _say(f"Exported at {report.exported_at} by {report.exported_by}.")
    _say(f"Requested by {report.requested_by}; approved by {report.approved_by}.")
    _say(
        f"Audit entry {report.entry_index}, in the bundle's checkpoint of "
        f"{report.checkpoint_size} entries, consistent with yours of {report.trusted_size}."
    )
