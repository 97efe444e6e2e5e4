"""Changing a tip over the API (readers of its audience only; others get 404, like a missing tip):

- `POST /api/v1/tips/{id}/transitions` {"to", "reason"?, "findings"?, "message"?}: 200 applied,
  202 when the move needs a four-eyes approval, 409 illegal, 422 bad reason or findings ("reason"
  only on closing from triage and only a closure code: it goes into the audit log);
- `PUT /api/v1/tips/{id}/assignee` {"staff_id": id | null};
- `POST /api/v1/tips/{id}/messages` {"body"} (to the reporter), `.../notes` {"body"} (internal);
- `POST /api/v1/tips/{id}/flags` {"urgent"?, "legal_hold"?} (lifting a hold: 202, approval);
- `POST /api/v1/tips/{id}/priority` {"priority", "reason"};
- `POST /api/v1/tips/{id}/approvals` {"kind", "reason"?, "compartment"?, "recipient"?,
  "redacted"?, "notes"?}: 202, a pending request (an export names recipient, variant, notes).

Bodies are small JSON objects (64 KiB at most, unknown fields refused). Thin handlers: parse,
then one service call in one transaction (service.tips.workflow / casework, service.approvals).
"""

from __future__ import annotations

import uuid
from collections.abc import Callable
from functools import partial
from typing import Annotated, Any, TypeVar

from fastapi import APIRouter, Depends, Request
from fastapi.responses import JSONResponse
from pydantic import Field, StrictBool, StrictInt
from sqlalchemy.orm import Session

from routes.api.schemas import (
    BODY_ERRORS,
    SMALL_BODY,
    STAFF_ERRORS,
    STORE_ERRORS,
    answer,
    request_body,
)
from routes.api.schemas_staff import (
    ApprovalRequested,
    Assignee,
    Created,
    Flags,
    FlagsPending,
    PriorityOverridden,
    Transitioned,
    TransitionPending,
)
from routes.api.tips import parse_id
from routes.deps import Db, UnitOfWork, read_model
from routes.errors import errors
from routes.staff_auth import READERS, require_roles
from service.approvals import service as approvals
from service.approvals.requests import REASON_MAX
from service.db import utcnow
from service.errors import InvalidInput
from service.inputs import MULTILINE, InputModel
from service.staff.sessions import Principal
from service.tips import casework
from service.tips.schemas import LIMITS
from service.tips.workflow import transition

__all__ = [
    "ApprovalRequestIn",
    "AssigneeIn",
    "FlagsIn",
    "PriorityIn",
    "TextIn",
    "TransitionIn",
    "on_tip",
    "router",
]

# Each route changes one tip: 404 outside the audience, 409 when its state forbids the change.
router = APIRouter(
    prefix="/api/v1/tips",
    tags=["workflow"],
    dependencies=[Depends(require_roles(*READERS))],
    responses={**STAFF_ERRORS, **errors(404, 409), **BODY_ERRORS, **STORE_ERRORS},
)
Reader = Annotated[Principal, Depends(require_roles(*READERS))]
T = TypeVar("T")
M = TypeVar("M", bound=InputModel)

Code = Annotated[str, Field(max_length=32)]


class TransitionIn(InputModel):
    to: Code
    reason: Code | None = None
    findings: dict[Code, Code] | None = Field(default=None, max_length=20)
    message: Annotated[str | None, MULTILINE] = Field(
        default=None, max_length=LIMITS["message_max"]
    )


class AssigneeIn(InputModel):
    staff_id: uuid.UUID | None


class TextIn(InputModel):
    body: Annotated[str, MULTILINE] = Field(max_length=casework.NOTE_MAX)


class FlagsIn(InputModel):
    urgent: StrictBool | None = None
    legal_hold: StrictBool | None = None


class PriorityIn(InputModel):
    priority: StrictInt = Field(ge=0, le=casework.PRIORITY_MAX)
    reason: Annotated[str, MULTILINE] = Field(max_length=casework.NOTE_MAX)


class ApprovalRequestIn(InputModel):
    kind: Code
    reason: Annotated[str | None, MULTILINE] = Field(default=None, max_length=REASON_MAX)
    compartment: str | None = Field(default=None, max_length=64)
    # Export only: the external age recipient, the variant and the notes to include.
    recipient: str | None = Field(default=None, max_length=100)
    redacted: StrictBool = False
    notes: list[Annotated[str, Field(max_length=36)]] | None = Field(default=None, max_length=200)


def on_tip(
    service: Callable[..., T], principal: Principal, tip_id: uuid.UUID, **options: Any
) -> Callable[[Session], T]:
    """The unit of work that calls `service` on a tip, now (shared with the staff pages). API
    bodies name their fields as the service names its keywords: `**dict(body)`."""
    return partial(service, principal=principal, tip_id=tip_id, now=utcnow(), **options)


async def _apply(
    tip_id: str,
    request: Request,
    principal: Principal,
    db: UnitOfWork,
    model: type[M],
    service: Callable[..., T],
    check: Callable[[M], None] | None = None,
) -> tuple[M, T]:
    """Parse the path, then the body as `model` (and `check` it), then call `service` with the
    body's fields on the tip in one transaction."""
    wanted = parse_id(tip_id)
    body = await read_model(request, model, limit=SMALL_BODY)
    if check is not None:
        check(body)
    return body, await db.run_in_thread(on_tip(service, principal, wanted, **dict(body)))


def _done_or_pending(content: dict[str, Any], approval_id: uuid.UUID | None) -> JSONResponse:
    """200 when the change was made; 202 with the approval's id when it waits for four eyes."""
    if approval_id is None:
        return JSONResponse(content)
    return JSONResponse({**content, "approval_id": str(approval_id)}, status_code=202)


@router.post(
    "/{tip_id}/transitions",
    response_model=Transitioned,
    responses=answer(202, TransitionPending, "Waits for a four-eyes approval"),
    openapi_extra=request_body(TransitionIn),
)
async def post_transition(tip_id: str, request: Request, principal: Reader, db: Db) -> JSONResponse:
    """Move the tip (200), or file the approval the move needs (202)."""
    _, moved = await _apply(tip_id, request, principal, db, TransitionIn, transition)
    return _done_or_pending({"outcome": moved.outcome, "status": moved.status}, moved.approval_id)


@router.put("/{tip_id}/assignee", response_model=Assignee, openapi_extra=request_body(AssigneeIn))
async def put_assignee(tip_id: str, request: Request, principal: Reader, db: Db) -> dict[str, Any]:
    """Assign to a reviewer or supervisor of the tip's audience (422 otherwise), or to nobody."""
    wanted = parse_id(tip_id)
    body = await read_model(request, AssigneeIn, limit=SMALL_BODY)
    staff_id = body.staff_id
    await db.run_in_thread(
        partial(casework.assign, principal=principal, tip_id=wanted, assignee_id=staff_id)
    )
    return {"assignee": str(staff_id) if staff_id else None}


@router.post(
    "/{tip_id}/messages",
    status_code=201,
    response_model=Created,
    openapi_extra=request_body(TextIn),
)
async def post_message(tip_id: str, request: Request, principal: Reader, db: Db) -> dict[str, str]:
    """A message the reporter reads on their status page."""
    _, sent = await _apply(tip_id, request, principal, db, TextIn, casework.send_message)
    return {"id": str(sent)}


@router.post(
    "/{tip_id}/notes", status_code=201, response_model=Created, openapi_extra=request_body(TextIn)
)
async def post_note(tip_id: str, request: Request, principal: Reader, db: Db) -> dict[str, str]:
    """An internal note, encrypted to the tip's case key."""
    _, note = await _apply(tip_id, request, principal, db, TextIn, casework.add_note)
    return {"id": str(note)}


def _some_flag(body: FlagsIn) -> None:
    if body.urgent is None and body.legal_hold is None:
        raise InvalidInput("give urgent and/or legal_hold", fields={"body": "empty"})


@router.post(
    "/{tip_id}/flags",
    response_model=Flags,
    responses=answer(202, FlagsPending, "Lifting the hold waits for a four-eyes approval"),
    openapi_extra=request_body(FlagsIn),
)
async def post_flags(tip_id: str, request: Request, principal: Reader, db: Db) -> JSONResponse:
    """Set `urgent` and/or `legal_hold`; lifting a legal hold answers 202 (approval pending)."""
    _, flags = await _apply(tip_id, request, principal, db, FlagsIn, casework.set_flags, _some_flag)
    return _done_or_pending(
        {"urgent": flags.urgent, "legal_hold": flags.legal_hold}, flags.approval_id
    )


@router.post(
    "/{tip_id}/priority", response_model=PriorityOverridden, openapi_extra=request_body(PriorityIn)
)
async def post_priority(tip_id: str, request: Request, principal: Reader, db: Db) -> dict[str, Any]:
    """Override the computed priority; the reason is stored encrypted (case key)."""
    override = casework.override_priority
    body, note = await _apply(tip_id, request, principal, db, PriorityIn, override)
    return {"priority": body.priority, "note_id": str(note)}


@router.post(
    "/{tip_id}/approvals",
    status_code=202,
    response_model=ApprovalRequested,
    openapi_extra=request_body(ApprovalRequestIn),
)
async def post_approval_request(
    tip_id: str, request: Request, principal: Reader, db: Db
) -> dict[str, str]:
    """Ask for a purge, export/referral, identity reveal, reroute or legal-hold lift."""
    _, approval = await _apply(tip_id, request, principal, db, ApprovalRequestIn, approvals.request)
    return {"approval_id": str(approval.id), "kind": approval.kind, "status": approval.status}
