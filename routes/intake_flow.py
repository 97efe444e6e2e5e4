"""Receiving a tip or evidence over HTTP: multipart events in, service.tips.receiving calls out.

The rules (idempotency, the receipt retry, what one transaction stores) live in the service; this
module only translates. Text fields come first and are handed over whole (`fields_in`, on one of
the intake gate's worker threads) when the first file starts or the body ends; each file in the
`files` field goes to the receiver's `open_file`, whose sink gets the bytes as they arrive. The
receiver's `finish` runs in the gate's write turn (routes.deps.IntakeGate.write) and returns
only after the commit.

Used by the JSON API (routes.api.intake), the report form (routes.pages.report_form) and the
reporter's uploads (routes.api.reporter, routes.pages.status_tip).
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from functools import partial
from typing import Protocol, TypeVar

from fastapi import Request

from routes.deps import IntakeGate, UnitOfWork, instance_context, run_blocking, settings_of
from routes.multipart import FileSink, Limits, stream_multipart
from routes.pages.forms import drain
from service.errors import CsrfRejected, InvalidInput, Unauthorized
from service.instance.context import InstanceContext
from service.tips.attachments import AttachmentSummary
from service.tips.receiving import EvidenceUpload, TipIntake, replay_window
from service.tips.reporter_auth import ReporterSession
from service.tips.schemas import LIMITS

__all__ = [
    "INTAKE_LIMITS",
    "Fields",
    "Receiver",
    "evidence_upload",
    "intake_context",
    "receive",
    "summaries_json",
    "tip_intake",
]

Fields = dict[str, list[str]]
R = TypeVar("R", covariant=True)
INTAKE_LIMITS = Limits(
    max_body=LIMITS["tip_max_bytes"] + (1 << 20),
    max_file=LIMITS["file_max_bytes"],
    max_files=LIMITS["files_max"],
    max_field=64 << 10,
    max_fields=200,
)


class Receiver(Protocol[R]):
    """What `receive` feeds: service.tips.receiving's TipIntake and EvidenceUpload."""

    def open_file(self, filename: str) -> FileSink: ...

    def finish(self) -> R: ...

    def close(self) -> None: ...


async def intake_context(request: Request) -> InstanceContext:
    """The instance context, without a thread hop once it is cached (loading needs the
    database)."""
    ctx: InstanceContext | None = getattr(request.app.state, "instance_context", None)
    if ctx is None:
        ctx = await run_blocking(instance_context, request)
    return ctx


def tip_intake(
    request: Request, db: UnitOfWork, ctx: InstanceContext, *, key: str | None, form: bool
) -> TipIntake:
    """A tip arriving in this request; `form` for the HTML form's shorter replay window."""
    settings = settings_of(request)
    return TipIntake(
        db.transaction,
        ctx,
        key=key,
        window=replay_window(settings, form=form),
        spool_dir=settings.data_dir,
    )


def evidence_upload(
    request: Request, db: UnitOfWork, reporter: ReporterSession, *, files_required: bool
) -> EvidenceUpload:
    return EvidenceUpload(
        db.transaction,
        reporter,
        spool_dir=settings_of(request).data_dir,
        files_required=files_required,
    )


class _Parts:
    """The multipart callbacks: fields collected until the first file or the end."""

    def __init__(
        self,
        gate: IntakeGate,
        open_file: Callable[[str], FileSink],
        fields_in: Callable[[Fields], None],
    ) -> None:
        self._gate = gate
        self._open = open_file
        self._fields_in = fields_in
        self.fields: Fields = {}
        self.fields_done = False

    async def on_field(self, name: str, value: str) -> None:
        if self.fields_done:
            raise InvalidInput("text fields must come before files")
        self.fields.setdefault(name, []).append(value)

    async def on_file(self, name: str, filename: str, _type: str | None) -> FileSink:
        if name != "files":
            raise InvalidInput("files go in the 'files' field")
        return await self._gate.run_sync(partial(self._open_file, filename))

    async def end(self) -> None:
        if not self.fields_done:
            await self._gate.run_sync(self._end_fields)

    def _open_file(self, filename: str) -> FileSink:
        """On a worker thread: one hop for the fields' work and the file's."""
        self._end_fields()
        return self._open(filename)

    def _end_fields(self) -> None:
        if not self.fields_done:
            self.fields_done = True
            self._fields_in(self.fields)


async def receive(
    request: Request,
    gate: IntakeGate,
    receiver: Receiver[R],
    *,
    fields_in: Callable[[Fields], None],
    drain_refused: bool = False,
) -> R:
    """Stream a multipart body into `receiver` and store it; `receiver` is closed either way.

    `fields_in(fields)` gets every text field once they are all in (CSRF, parsing, then the
    receiver's `begin`), before any file is opened. `drain_refused` (pages): after a refusal
    (422, a CSRF 403, a reporter session ended by a key rotation) read the rest of the body, so
    that the browser gets the answer."""
    parts = _Parts(gate, receiver.open_file, fields_in)
    try:
        await stream_multipart(
            request,
            limits=INTAKE_LIMITS,
            on_field=parts.on_field,
            on_file=parts.on_file,
            limiter=gate.threads,
        )
        await parts.end()
        return await gate.write(receiver.finish)
    except (InvalidInput, CsrfRejected, Unauthorized):
        if drain_refused:
            await drain(request, INTAKE_LIMITS.max_body)
        raise
    finally:
        receiver.close()


def summaries_json(items: Sequence[AttachmentSummary]) -> list[dict[str, object]]:
    """Files as the reporter sees them once stored."""
    return [
        {
            "name": s.name,
            "size": s.size,
            "metadata_removed": list(s.removed),
            "metadata_cleaned": s.cleaned,
            "not_cleaned_reason": s.reason,
        }
        for s in items
    ]
