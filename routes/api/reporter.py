"""Reporter return visits over the API: receipt login, the tip's status and conversation,
messages and more evidence. Tokens go in `Authorization: Bearer`."""

from __future__ import annotations

from collections.abc import Callable
from typing import Annotated, Any

import anyio
from fastapi import APIRouter, Depends, Request
from fastapi.responses import JSONResponse
from pydantic import Field
from sqlalchemy.orm import Session, sessionmaker

from routes.deps import (
    IntakeGate,
    async_transaction,
    bearer_token,
    instance_context,
    intake_slot,
    read_model,
    run_transaction,
    session_factory,
)
from routes.intake_flow import INTAKE_LIMITS, summaries_json
from routes.multipart import FileSink, stream_multipart
from service.db import lock_for_write, utcnow
from service.errors import InvalidInput, Malformed, Unauthorized
from service.inputs import MULTILINE, InputModel
from service.instance.context import InstanceContext
from service.tips.attachments import AttachmentSummary
from service.tips.contest import contest_closure
from service.tips.conversation import (
    ReporterUpload,
    ReporterView,
    add_reporter_message,
    reporter_view,
)
from service.tips.reporter_auth import ReporterSession, login_with_receipt, open_token

__all__ = ["TextHook", "login", "receive_attachments", "router", "view_json"]

router = APIRouter(prefix="/api/v1/reporter", tags=["reporter"])
SMALL_BODY = 64 << 10


class ReceiptIn(InputModel):
    receipt: str = Field(max_length=256)


class MessageIn(InputModel):
    body: Annotated[str, MULTILINE] = Field(max_length=20_000)


class ContestIn(InputModel):
    message: Annotated[str | None, MULTILINE] = Field(default=None, max_length=20_000)


def reporter_session(request: Request) -> ReporterSession:
    return open_token(instance_context(request), bearer_token(request), now=utcnow())


def login(factory: sessionmaker[Session], ctx: InstanceContext, receipt: str) -> str:
    def work(session: Session) -> str | None:
        return login_with_receipt(session, ctx, receipt, now=utcnow()).token

    token = run_transaction(factory, work)  # Failures are counted even though we refuse.
    if token is None:
        raise Unauthorized("receipt not recognised")
    return token


@router.post("/session")
async def create_session(request: Request) -> dict[str, str]:
    """Sign in with a receipt. Unknown and wrong receipts get the same 401."""
    body: ReceiptIn = await read_model(request, ReceiptIn, limit=SMALL_BODY)
    ctx = await anyio.to_thread.run_sync(instance_context, request)
    token = await anyio.to_thread.run_sync(login, session_factory(request), ctx, body.receipt)
    return {"token": token}


def view_json(view: ReporterView) -> dict[str, Any]:
    return {
        "status": view.status,
        "received_on": view.received_on.isoformat(),
        "contested_on": view.contested_on.isoformat() if view.contested_on else None,
        "messages": [
            {
                "from": "reporter" if m.from_reporter else "staff",
                "sent_on": m.sent_on.isoformat(),
                "body": m.body,
            }
            for m in view.messages
        ],
        "attachments": [
            {
                "name": a.name,
                "size": a.size,
                "metadata_removed": list(a.removed),
                "metadata_cleaned": a.cleaned,
                "not_cleaned_reason": a.reason,
            }
            for a in view.attachments
        ],
    }


@router.get("/tip")
def get_tip(
    reporter: Annotated[ReporterSession, Depends(reporter_session)],
    factory: Annotated[sessionmaker[Session], Depends(session_factory)],
) -> dict[str, Any]:
    """The coarse status, the conversation and the evidence list."""
    view = run_transaction(factory, lambda s: reporter_view(s, reporter, today=utcnow().date()))
    return view_json(view)


@router.post("/messages", status_code=201)
async def post_message(request: Request) -> dict[str, str]:
    reporter = await anyio.to_thread.run_sync(reporter_session, request)
    body: MessageIn = await read_model(request, MessageIn, limit=SMALL_BODY)
    factory = session_factory(request)
    await anyio.to_thread.run_sync(
        lambda: run_transaction(
            factory, lambda s: add_reporter_message(s, reporter, body.body, today=utcnow().date())
        )
    )
    return {"status": "sent"}


@router.post("/contest")
async def post_contest(request: Request) -> dict[str, str]:
    """Contest the closure of this closed tip, once, with an optional message (`{}` or
    `{"message"}`): 409 while the tip is open or once contested."""
    reporter = await anyio.to_thread.run_sync(reporter_session, request)
    body: ContestIn = await read_model(request, ContestIn, limit=SMALL_BODY, optional=True)
    factory = session_factory(request)
    today = utcnow().date()
    await anyio.to_thread.run_sync(
        lambda: run_transaction(
            factory, lambda s: contest_closure(s, reporter, body.message, today=today)
        )
    )
    return {"status": "contested", "contested_on": today.isoformat()}


@router.post("/attachments", status_code=201)
async def post_attachments(
    request: Request, gate: Annotated[IntakeGate, Depends(intake_slot)]
) -> JSONResponse:
    """Multipart `files` (and optionally `remove_metadata=false` first)."""
    reporter = await anyio.to_thread.run_sync(reporter_session, request)
    if not request.headers.get("content-type", "").startswith("multipart/form-data"):
        raise Malformed("send multipart/form-data with 'files'")
    async with gate.slot():
        summaries = await receive_attachments(request, reporter)
    return JSONResponse({"attachments": summaries_json(summaries)}, status_code=201)


TextHook = Callable[[Session, dict[str, str]], None]


def _api_remove_metadata(options: dict[str, str]) -> bool:
    return options.get("remove_metadata", "true").lower() not in ("false", "0", "off", "no")


async def receive_attachments(
    request: Request,
    reporter: ReporterSession,
    *,
    on_text: TextHook | None = None,
    remove_metadata: Callable[[dict[str, str]], bool] = _api_remove_metadata,
    files_required: bool = True,
) -> list[AttachmentSummary]:
    """Shared with the status page: stream files into a reporter's existing tip.

    Everything happens in one transaction. `on_text` (run in a worker thread) gets the text
    fields once they are all in, when the first file starts or the body ends, so the status page
    can check its CSRF token and store a message together with the files. `remove_metadata`
    reads the choice from the text fields. With `files_required=False` a body without files
    returns `[]` (and whatever `on_text` stored is committed).
    """
    async with async_transaction(session_factory(request)) as session:
        options: dict[str, str] = {}
        upload: list[ReporterUpload] = []
        texts_done = False

        async def end_of_texts() -> None:
            nonlocal texts_done
            if not texts_done:
                texts_done = True
                # The write lock only once the text is in: a slow body must not hold it.
                await anyio.to_thread.run_sync(lock_for_write, session)
                if on_text is not None:
                    await anyio.to_thread.run_sync(on_text, session, options)

        async def on_field(name: str, value: str) -> None:
            if texts_done:
                raise InvalidInput("text fields must come before files")
            options[name] = value

        async def on_file(name: str, filename: str, _type: str | None) -> FileSink:
            if name != "files":
                raise InvalidInput("files go in the 'files' field")
            await end_of_texts()
            if not upload:
                clean = remove_metadata(options)
                upload.append(ReporterUpload(session, reporter, remove_metadata=clean))
            return await anyio.to_thread.run_sync(upload[0].add_attachment, filename)

        await stream_multipart(request, limits=INTAKE_LIMITS, on_field=on_field, on_file=on_file)
        await end_of_texts()
        if not upload:
            if files_required:
                raise InvalidInput("files: attach at least one file", fields={"files": "required"})
            return []
        await anyio.to_thread.run_sync(lambda: upload[0].finish(today=utcnow().date()))
        return [w.summary for w in upload[0].writers if w.summary is not None]
