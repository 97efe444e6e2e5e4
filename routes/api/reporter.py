"""Reporter return visits over the API: receipt login, the tip's status and conversation,
messages and more evidence. Tokens go in `Authorization: Bearer`."""

from __future__ import annotations

from functools import partial
from typing import Annotated, Any

from fastapi import APIRouter, Depends, Request
from fastapi.responses import JSONResponse
from pydantic import Field
from sqlalchemy.orm import Session

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
    Db,
    IntakeGate,
    UnitOfWork,
    bearer_token,
    instance_context,
    intake_slot,
    read_model,
    run_blocking,
)
from routes.errors import errors
from routes.intake_flow import Fields, evidence_upload, receive, summaries_json
from service.db import utcnow
from service.errors import Malformed, Unauthorized
from service.inputs import MULTILINE, InputModel
from service.instance.context import InstanceContext
from service.tips.contest import contest_closure
from service.tips.conversation import (
    ReporterView,
    add_reporter_message,
    reporter_view,
)
from service.tips.receiving import EvidenceUpload
from service.tips.reporter_auth import ReporterSession, login_with_receipt, open_token

__all__ = ["login", "router", "view_json"]

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


def login(db: UnitOfWork, ctx: InstanceContext, receipt: str) -> str:
    def work(session: Session) -> str | None:
        return login_with_receipt(session, ctx, receipt, now=utcnow()).token

    token = db.run(work)  # Failures are counted even though we refuse.
    if token is None:
        raise Unauthorized("receipt not recognised")
    return token


@router.post(
    "/session",
    response_model=Token,
    responses={**errors(401, 429), **BODY_ERRORS},
    openapi_extra=request_body(ReceiptIn),
)
async def create_session(request: Request, db: Db) -> dict[str, str]:
    """Sign in with a receipt. Unknown and wrong receipts get the same 401."""
    body: ReceiptIn = await read_model(request, ReceiptIn, limit=SMALL_BODY)
    ctx = await run_blocking(instance_context, request)
    token = await run_blocking(login, db, ctx, body.receipt)
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
    db: Db,
) -> dict[str, Any]:
    """The coarse status, the conversation and the evidence list."""
    view = db.run(partial(reporter_view, reporter=reporter, today=utcnow().date()))
    return view_json(view)


@router.post(
    "/messages",
    status_code=201,
    response_model=MessageSent,
    responses={**_SIGNED_IN, **BODY_ERRORS, **STORE_ERRORS},
    openapi_extra=request_body(MessageIn),
)
async def post_message(request: Request, db: Db) -> dict[str, str]:
    reporter = await run_blocking(reporter_session, request)
    body: MessageIn = await read_model(request, MessageIn, limit=SMALL_BODY)
    message = partial(
        add_reporter_message, reporter=reporter, body=body.body, today=utcnow().date()
    )
    await db.run_in_thread(message)
    return {"status": "sent"}


@router.post(
    "/contest",
    response_model=ClosureContested,
    responses={**_SIGNED_IN, **errors(409), **BODY_ERRORS, **STORE_ERRORS},
    openapi_extra=request_body(ContestIn, required=False),
)
async def post_contest(request: Request, db: Db) -> dict[str, str]:
    """Contest the closure of this closed tip, once, with an optional message (`{}` or
    `{"message"}`): 409 while the tip is open or once contested."""
    reporter = await run_blocking(reporter_session, request)
    body: ContestIn = await read_model(request, ContestIn, limit=SMALL_BODY, optional=True)
    today = utcnow().date()
    await db.run_in_thread(
        partial(contest_closure, reporter=reporter, message=body.message, today=today)
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
    request: Request, gate: Annotated[IntakeGate, Depends(intake_slot)], db: Db
) -> JSONResponse:
    """Multipart `files` (and optionally `remove_metadata=false` first)."""
    reporter = await run_blocking(reporter_session, request)
    if not request.headers.get("content-type", "").startswith("multipart/form-data"):
        raise Malformed("send multipart/form-data with 'files'")
    upload = evidence_upload(request, db, reporter, files_required=True)
    async with gate.slot():
        result = await receive(request, gate, upload, fields_in=partial(_options, upload))
    return JSONResponse({"attachments": summaries_json(result.attachments)}, status_code=201)


def _options(upload: EvidenceUpload, fields: Fields) -> None:
    choice = fields.get("remove_metadata", ["true"])[-1]
    upload.begin(remove_metadata=choice.lower() not in ("false", "0", "off", "no"))
