"""The forms of the tip page's actions partial (staff/_tip_actions.html), JavaScript-free:

- `POST /staff/tips/{id}/transition` (to, reason, message, finding:<allegation> ...)
- `POST /staff/tips/{id}/message` (body), `POST /staff/tips/{id}/note` (body)
- `POST /staff/tips/{id}/assignee` (staff_id, empty for nobody)
- `POST /staff/tips/{id}/flags` (urgent and/or legal_hold: "1" or "0")
- `POST /staff/tips/{id}/priority` (priority, reason)
- `POST /staff/tips/{id}/request` (kind, reason, compartment)

Each checks the staff CSRF token (`StaffForm`), calls one service function in one transaction,
and answers 303 back to the tip page; a refusal renders staff/action_error.html with its status.
"""

from __future__ import annotations

import uuid
from collections.abc import Callable
from typing import Annotated, Any

from fastapi import APIRouter, Depends, Request
from fastapi.responses import RedirectResponse, Response
from sqlalchemy.orm import Session

from routes.api.tips import parse_id
from routes.api.workflow import on_tip
from routes.deps import Db, UnitOfWork
from routes.i18n import pick_language
from routes.pages.forms import Fields
from routes.pages.report_fields import one
from routes.staff_auth import READERS, StaffForm, require_roles
from routes.templating import Pages, get_pages, lang_url
from service.approvals import service as approvals
from service.errors import InvalidInput, ProbityError
from service.staff.sessions import Principal
from service.tips import casework
from service.tips.workflow import transition

__all__ = ["act", "refusal", "router"]

router = APIRouter(include_in_schema=False, dependencies=[Depends(require_roles(*READERS))])
Reader = Annotated[Principal, Depends(require_roles(*READERS))]
PagesDep = Annotated[Pages, Depends(get_pages)]
FINDING = "finding:"


def refusal(request: Request, pages: Pages, exc: ProbityError, back: str) -> Response:
    """The staff error page for a refused action, with a link back to where the form was."""
    context = {"error": exc.code, "detail": exc.detail, "back": back}
    return pages.render(request, "staff/action_error.html", context, status_code=exc.status)


async def act(
    request: Request, db: UnitOfWork, pages: Pages, back: str, work: Callable[[Session], Any]
) -> Response:
    """Run `work` in one transaction; 303 to `back` (in the page's language) or a refusal page."""
    try:
        await db.run_in_thread(work)
    except ProbityError as exc:
        return refusal(request, pages, exc, back)
    return RedirectResponse(lang_url(back, pick_language(request)), status_code=303)


def _findings(fields: Fields) -> dict[str, str] | None:
    found = {name[len(FINDING) :]: one(fields, name) for name in fields if name.startswith(FINDING)}
    return found or None


def _optional(fields: Fields, name: str) -> str | None:
    return one(fields, name).strip() or None


@router.post("/staff/tips/{tip_id}/transition")
async def post_transition(
    tip_id: str, request: Request, principal: Reader, fields: StaffForm, pages: PagesDep, db: Db
) -> Response:
    wanted = parse_id(tip_id)
    to, reason, message = (
        one(fields, "to"),
        _optional(fields, "reason"),
        _optional(fields, "message"),
    )
    findings = _findings(fields)
    work = on_tip(
        transition, principal, wanted, to=to, reason=reason, findings=findings, message=message
    )
    return await act(request, db, pages, f"/staff/tips/{wanted}", work)


@router.post("/staff/tips/{tip_id}/message")
async def post_message(
    tip_id: str, request: Request, principal: Reader, fields: StaffForm, pages: PagesDep, db: Db
) -> Response:
    wanted = parse_id(tip_id)
    body = one(fields, "body")
    work = on_tip(casework.send_message, principal, wanted, body=body)
    return await act(request, db, pages, f"/staff/tips/{wanted}", work)


@router.post("/staff/tips/{tip_id}/note")
async def post_note(
    tip_id: str, request: Request, principal: Reader, fields: StaffForm, pages: PagesDep, db: Db
) -> Response:
    wanted = parse_id(tip_id)
    body = one(fields, "body")
    work = on_tip(casework.add_note, principal, wanted, body=body)
    return await act(request, db, pages, f"/staff/tips/{wanted}", work)


@router.post("/staff/tips/{tip_id}/assignee")
async def post_assignee(
    tip_id: str, request: Request, principal: Reader, fields: StaffForm, pages: PagesDep, db: Db
) -> Response:
    wanted = parse_id(tip_id)
    back = f"/staff/tips/{wanted}"
    raw = one(fields, "staff_id").strip()
    try:
        assignee = uuid.UUID(raw) if raw else None
    except ValueError:
        error = InvalidInput("staff_id: not a staff member", fields={"staff_id": "format"})
        return refusal(request, pages, error, back)
    return await act(
        request, db, pages, back, lambda s: casework.assign(s, principal, wanted, assignee)
    )


def _flag(fields: Fields, name: str) -> bool | None:
    value = one(fields, name)
    if value == "":
        return None
    if value not in ("0", "1"):
        raise InvalidInput(f"{name}: 1 or 0", fields={name: "format"})
    return value == "1"


@router.post("/staff/tips/{tip_id}/flags")
async def post_flags(
    tip_id: str, request: Request, principal: Reader, fields: StaffForm, pages: PagesDep, db: Db
) -> Response:
    wanted = parse_id(tip_id)
    back = f"/staff/tips/{wanted}"
    try:
        urgent, hold = _flag(fields, "urgent"), _flag(fields, "legal_hold")
        if urgent is None and hold is None:
            raise InvalidInput("give urgent and/or legal_hold", fields={"flags": "empty"})
    except InvalidInput as exc:
        return refusal(request, pages, exc, back)
    work = on_tip(casework.set_flags, principal, wanted, urgent=urgent, legal_hold=hold)
    return await act(request, db, pages, back, work)


@router.post("/staff/tips/{tip_id}/priority")
async def post_priority(
    tip_id: str, request: Request, principal: Reader, fields: StaffForm, pages: PagesDep, db: Db
) -> Response:
    wanted = parse_id(tip_id)
    back = f"/staff/tips/{wanted}"
    raw, reason = one(fields, "priority").strip(), one(fields, "reason")
    if not raw.isdigit() or len(raw) > 6:
        error = InvalidInput("priority: a whole number", fields={"priority": "format"})
        return refusal(request, pages, error, back)
    work = on_tip(casework.override_priority, principal, wanted, priority=int(raw), reason=reason)
    return await act(request, db, pages, back, work)


@router.post("/staff/tips/{tip_id}/request")
async def post_request(
    tip_id: str, request: Request, principal: Reader, fields: StaffForm, pages: PagesDep, db: Db
) -> Response:
    wanted = parse_id(tip_id)
    kind, reason = one(fields, "kind"), _optional(fields, "reason")
    compartment = _optional(fields, "compartment") if kind == "reroute" else None
    work = on_tip(
        approvals.request, principal, wanted, kind=kind, reason=reason, compartment=compartment
    )
    return await act(request, db, pages, f"/staff/tips/{wanted}", work)
