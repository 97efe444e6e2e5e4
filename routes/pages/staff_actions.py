"""The forms of the tip page's actions partial (staff/_tip_actions.html), JavaScript-free:

- `POST /staff/tips/{id}/transition` (to, reason, message, finding:<allegation> ...)
- `POST /staff/tips/{id}/message` (body), `POST /staff/tips/{id}/note` (body)
- `POST /staff/tips/{id}/assignee` (staff_id, empty for nobody)
- `POST /staff/tips/{id}/flags` (urgent and/or legal_hold: "1" or "0")
- `POST /staff/tips/{id}/priority` (priority, reason)
- `POST /staff/tips/{id}/request` (kind, reason, compartment; for an export: recipient,
  redacted "1", note (repeated note ids))
- `POST /staff/tips/{id}/exports/{approval_id}`: the one-time referral bundle download
  (routes.api.exports.export_response), for the requester or the approver

Each checks the staff CSRF token (`StaffPost`), calls one service function in one transaction,
and answers 303 back to the tip page; a refusal renders staff/action_error.html with its status.
"""

from __future__ import annotations

import uuid
from functools import partial
from typing import Annotated, Any

from fastapi import APIRouter, Depends
from fastapi.responses import Response

from routes.api.exports import export_response
from routes.api.tips import parse_id
from routes.api.workflow import on_tip
from routes.deps import run_blocking, settings_of
from routes.pages.forms import Fields
from routes.pages.report_fields import one
from routes.pages.staff_post import StaffPost, staff_post
from routes.staff_auth import READERS, require_roles
from service.approvals import service as approvals
from service.errors import InvalidInput, ProbityError
from service.tips import casework
from service.tips.workflow import transition

__all__ = ["router"]

router = APIRouter(include_in_schema=False, dependencies=[Depends(require_roles(*READERS))])
ReaderPost = Annotated[StaffPost, Depends(staff_post(*READERS))]
FINDING = "finding:"


def _findings(fields: Fields) -> dict[str, str] | None:
    found = {name[len(FINDING) :]: one(fields, name) for name in fields if name.startswith(FINDING)}
    return found or None


def _optional(fields: Fields, name: str) -> str | None:
    return one(fields, name).strip() or None


def _back(tip: uuid.UUID) -> str:
    return f"/staff/tips/{tip}"


@router.post("/staff/tips/{tip_id}/transition")
async def post_transition(tip_id: str, post: ReaderPost) -> Response:
    wanted, fields = parse_id(tip_id), post.fields
    to, reason, message = (
        one(fields, "to"),
        _optional(fields, "reason"),
        _optional(fields, "message"),
    )
    findings = _findings(fields)
    work = on_tip(
        transition, post.principal, wanted, to=to, reason=reason, findings=findings, message=message
    )
    return await post.act(_back(wanted), work)


@router.post("/staff/tips/{tip_id}/message")
async def post_message(tip_id: str, post: ReaderPost) -> Response:
    wanted = parse_id(tip_id)
    work = on_tip(casework.send_message, post.principal, wanted, body=one(post.fields, "body"))
    return await post.act(_back(wanted), work)


@router.post("/staff/tips/{tip_id}/note")
async def post_note(tip_id: str, post: ReaderPost) -> Response:
    wanted = parse_id(tip_id)
    body = one(post.fields, "body")
    return await post.act(
        _back(wanted), on_tip(casework.add_note, post.principal, wanted, body=body)
    )


@router.post("/staff/tips/{tip_id}/assignee")
async def post_assignee(tip_id: str, post: ReaderPost) -> Response:
    wanted = parse_id(tip_id)
    raw = one(post.fields, "staff_id").strip()
    try:
        assignee = uuid.UUID(raw) if raw else None
    except ValueError:
        error = InvalidInput("staff_id: not a staff member", fields={"staff_id": "format"})
        return post.refuse(error, _back(wanted))
    assign = partial(casework.assign, principal=post.principal, tip_id=wanted, assignee_id=assignee)
    return await post.act(_back(wanted), assign)


def _flag(fields: Fields, name: str) -> bool | None:
    value = one(fields, name)
    if value == "":
        return None
    if value not in ("0", "1"):
        raise InvalidInput(f"{name}: 1 or 0", fields={name: "format"})
    return value == "1"


@router.post("/staff/tips/{tip_id}/flags")
async def post_flags(tip_id: str, post: ReaderPost) -> Response:
    wanted = parse_id(tip_id)
    try:
        urgent, hold = _flag(post.fields, "urgent"), _flag(post.fields, "legal_hold")
        if urgent is None and hold is None:
            raise InvalidInput("give urgent and/or legal_hold", fields={"flags": "empty"})
    except InvalidInput as exc:
        return post.refuse(exc, _back(wanted))
    work = on_tip(casework.set_flags, post.principal, wanted, urgent=urgent, legal_hold=hold)
    return await post.act(_back(wanted), work)


@router.post("/staff/tips/{tip_id}/priority")
async def post_priority(tip_id: str, post: ReaderPost) -> Response:
    wanted = parse_id(tip_id)
    raw, reason = one(post.fields, "priority").strip(), one(post.fields, "reason")
    if not raw.isdigit() or len(raw) > 6:
        error = InvalidInput("priority: a whole number", fields={"priority": "format"})
        return post.refuse(error, _back(wanted))
    override = casework.override_priority
    work = on_tip(override, post.principal, wanted, priority=int(raw), reason=reason)
    return await post.act(_back(wanted), work)


@router.post("/staff/tips/{tip_id}/request")
async def post_request(tip_id: str, post: ReaderPost) -> Response:
    wanted, fields = parse_id(tip_id), post.fields
    kind, reason = one(fields, "kind"), _optional(fields, "reason")
    compartment = _optional(fields, "compartment") if kind == "reroute" else None
    export: dict[str, Any] = {}
    if kind == "export":
        export = {
            "recipient": _optional(fields, "recipient") or "",
            "redacted": one(fields, "redacted") == "1",
            "notes": list(fields.get("note", [])),
        }
    work = on_tip(
        approvals.request,
        post.principal,
        wanted,
        kind=kind,
        reason=reason,
        compartment=compartment,
        **export,
    )
    return await post.act(_back(wanted), work)


@router.post("/staff/tips/{tip_id}/exports/{approval_id}", response_model=None)
async def post_export(tip_id: str, approval_id: str, post: ReaderPost) -> Response:
    wanted = parse_id(tip_id)
    settings = settings_of(post.request)
    try:
        return await run_blocking(
            export_response, post.db, settings, post.principal, wanted, approval_id
        )
    except ProbityError as exc:
        return post.refuse(exc, _back(wanted))
