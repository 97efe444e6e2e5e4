"""Reporter return visits over the API: receipt login, the tip's status and conversation,
messages and more evidence. Tokens go in `Authorization: Bearer`."""

from __future__ import annotations

from collections.abc import Callable
from typing import Annotated, Any, Protocol

import anyio
from fastapi import APIRouter, Depends, Request
from fastapi.responses import JSONResponse
from pydantic import Field
from sqlalchemy.orm import Session, sessionmaker

from routes.api.schemas import (
    BODY_ERRORS,
    FILES,
    SMALL_BODY,
    STORE_ERRORS,
    Attachments,
    ClosureContested,
    MessageSent,
    ReporterTip,
    Token,
    request_body,
)
from routes.deps import (
    IntakeGate,
    bearer_token,
    instance_context,
    intake_slot,
    read_model,
    run_transaction,
    session_factory,
    settings_of,
    transaction,
    write_transaction,
)
from routes.errors import errors
from routes.intake_flow import INTAKE_LIMITS, summaries_json
from routes.multipart import FileSink, stream_multipart
from service.db import utcnow
from service.errors import InvalidInput, Malformed, Unauthorized
from service.inputs import MULTILINE, InputModel
from service.instance.context import InstanceContext
from service.tips.attachments import AttachmentSummary
from service.tips.contest import contest_closure
from service.tips.conversation import (
    ReporterView,
    add_reporter_message,
    reporter_view,
)
from service.tips.reporter_auth import ReporterSession, login_with_receipt, open_token
from service.tips.uploads import ReporterUpload

__all__ = ["TextHook", "login", "receive_attachments", "router", "view_json"]

router = APIRouter(prefix="/api/v1/reporter", tags=["reporter"])
# A receipt session: a missing, unknown or expired token is a 401; a purged tip is gone (404).
_SIGNED_IN = errors(401, 404)


class ReceiptIn(InputModel):
    receipt: str = Field(max_length=256)


class MessageIn(InputModel):
    body: Annotated[str, MULTILINE] = Field(max_length=20_000)


class ContestIn(InputModel):
    message: Annotated[str | None, MULTILINE] = Field(default=None, max_length=20_000)


_REMOVE_METADATA = {"type": "string", "enum": ["true", "false"], "default": "true"}


def reporter_session(request: Request) -> ReporterSession:
    return open_token(instance_context(request), bearer_token(request), now=utcnow())


def login(factory: sessionmaker[Session], ctx: InstanceContext, receipt: str) -> str:
    def work(session: Session) -> str | None:
        return login_with_receipt(session, ctx, receipt, now=utcnow()).token

    token = run_transaction(factory, work)  # Failures are counted even though we refuse.
    if token is None:
        raise Unauthorized("receipt not recognised")
    return token


@router.post(
    "/session",
    response_model=Token,
    responses={**errors(401, 429), **BODY_ERRORS},
    openapi_extra=request_body(ReceiptIn),
)
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


@router.get("/tip", response_model=ReporterTip, responses=_SIGNED_IN)
def get_tip(
    reporter: Annotated[ReporterSession, Depends(reporter_session)],
    factory: Annotated[sessionmaker[Session], Depends(session_factory)],
) -> dict[str, Any]:
    """The coarse status, the conversation and the evidence list."""
    view = run_transaction(factory, lambda s: reporter_view(s, reporter, today=utcnow().date()))
    return view_json(view)


@router.post(
    "/messages",
    status_code=201,
    response_model=MessageSent,
    responses={**_SIGNED_IN, **BODY_ERRORS, **STORE_ERRORS},
    openapi_extra=request_body(MessageIn),
)
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


@router.post(
    "/contest",
    response_model=ClosureContested,
    responses={**_SIGNED_IN, **errors(409), **BODY_ERRORS, **STORE_ERRORS},
    openapi_extra=request_body(ContestIn, required=False),
)
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


@router.post(
    "/attachments",
    status_code=201,
    response_model=Attachments,
    responses={**_SIGNED_IN, **errors(400), **BODY_ERRORS, **STORE_ERRORS},
    openapi_extra=request_body(multipart={"files": FILES, "remove_metadata": _REMOVE_METADATA}),
)
async def post_attachments(
    request: Request, gate: Annotated[IntakeGate, Depends(intake_slot)]
) -> JSONResponse:
    """Multipart `files` (and optionally `remove_metadata=false` first)."""
    reporter = await anyio.to_thread.run_sync(reporter_session, request)
    if not request.headers.get("content-type", "").startswith("multipart/form-data"):
        raise Malformed("send multipart/form-data with 'files'")
    async with gate.slot():
        summaries = await receive_attachments(request, reporter, gate=gate)
    return JSONResponse({"attachments": summaries_json(summaries)}, status_code=201)


class TextHook(Protocol):
    """What the status page does with its text fields besides the files."""

    def check(self, options: dict[str, str]) -> None:
        """Once the text fields are in (a worker thread): validate, CSRF; no writes."""

    def store(self, session: Session) -> None:
        """In the upload's one transaction, before the files (e.g. the message)."""


def _api_remove_metadata(options: dict[str, str]) -> bool:
    return options.get("remove_metadata", "true").lower() not in ("false", "0", "off", "no")


async def receive_attachments(
    request: Request,
    reporter: ReporterSession,
    *,
    gate: IntakeGate,
    on_text: TextHook | None = None,
    remove_metadata: Callable[[dict[str, str]], bool] = _api_remove_metadata,
    files_required: bool = True,
) -> list[AttachmentSummary]:
    """Shared with the status page: stream files into a reporter's existing tip.

    While the body arrives files are only encrypted into a spool (service.tips.uploads); one
    transaction, in the gate's write turn, stores `on_text`'s part and the files once it has
    ended. `on_text.check` gets the text fields once they are all in, when the first file
    starts or the body ends. `remove_metadata` reads the choice from the text fields. With
    `files_required=False` a body without files returns `[]` (and `on_text` still stores).
    """
    factory = session_factory(request)
    options: dict[str, str] = {}
    upload: list[ReporterUpload] = []
    texts_done = False

    async def end_of_texts() -> None:
        nonlocal texts_done
        if not texts_done:
            texts_done = True
            if on_text is not None:
                await gate.run_sync(lambda: on_text.check(options))

    async def on_field(name: str, value: str) -> None:
        if texts_done:
            raise InvalidInput("text fields must come before files")
        options[name] = value

    def open_upload() -> ReporterUpload:
        with transaction(factory) as session:  # reads the tip's public key, then ends
            return ReporterUpload(
                session, reporter, remove_metadata=remove_metadata(options),
                spool_dir=settings_of(request).data_dir,
            )  # fmt: skip

    async def on_file(name: str, filename: str, _type: str | None) -> FileSink:
        if name != "files":
            raise InvalidInput("files go in the 'files' field")
        await end_of_texts()
        if not upload:
            upload.append(await gate.run_sync(open_upload))
        return await gate.run_sync(lambda: upload[0].add_attachment(filename))

    def store() -> list[AttachmentSummary]:
        with write_transaction(factory) as session:
            if on_text is not None:
                on_text.store(session)
            return upload[0].store(session, today=utcnow().date()) if upload else []

    try:
        await stream_multipart(
            request, limits=INTAKE_LIMITS, on_field=on_field, on_file=on_file,
            limiter=gate.threads,
        )  # fmt: skip
        await end_of_texts()
        if not upload and files_required:
            raise InvalidInput("files: attach at least one file", fields={"files": "required"})
        return await gate.write(store)
    finally:
        if upload:
            upload[0].close()
