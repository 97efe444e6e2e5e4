"""Access pages (no JavaScript, English and Spanish):

- `GET /staff/access` (supervisors and admins): for a supervisor, the membership requests they
  may approve (username, role, compartment) and the pending envelope rewrites they can apply,
  counted per tip, with backlog counts over their own tips only; admins hold no tip keys, decide
  nothing here and see no counts (global counts were an oracle of which names match reports);
- `POST /staff/access/apply` (supervisors): rewrite them now with the signed-in supervisor's key;
- `POST /staff/access/memberships` (supervisors; compartment, staff_id, decision=approve|reject):
  four-eyes on a membership an admin requested;
- `GET/POST /staff/admin/conflicts` (reviewers and supervisors): register a conflict for oneself
  or, a supervisor, for a member of one's compartments. The value is never shown back, and the
  answer never says how many tips matched.

Imports FastAPI, `routes.*` and `service.*`.
"""

from __future__ import annotations

import uuid
from collections.abc import Callable
from typing import Annotated, Any

import anyio
from fastapi import APIRouter, Depends, Request
from fastapi.responses import HTMLResponse, RedirectResponse, Response
from pydantic import ValidationError
from sqlalchemy.orm import Session

from routes.api.access import CONFLICT_ROLES, ConflictIn, conflict_work
from routes.deps import instance_context, run_transaction, session_factory
from routes.i18n import pick_language
from routes.pages.report_fields import one
from routes.staff_auth import ADMINS, SUPERVISORS, StaffForm, csrf_token, require_roles
from routes.templating import Pages, get_pages, lang_url
from service.access.memberships import decide_membership, pending_memberships
from service.access.service import (
    CONFLICT_KINDS,
    NotPermitted,
    access_backlog,
    apply_pending,
    pending_for,
)
from service.errors import InvalidInput, NotFound
from service.staff.sessions import Principal

__all__ = ["router"]

ACCESS_ROLES = (*SUPERVISORS, *ADMINS)
PagesDep = Annotated[Pages, Depends(get_pages)]
Viewer = Annotated[Principal, Depends(require_roles(*ACCESS_ROLES))]
Supervisor = Annotated[Principal, Depends(require_roles(*SUPERVISORS))]
Registrar = Annotated[Principal, Depends(require_roles(*CONFLICT_ROLES))]

access_pages = APIRouter(
    prefix="/staff/access",
    include_in_schema=False,
    dependencies=[Depends(require_roles(*ACCESS_ROLES))],
)
apply_pages = APIRouter(
    prefix="/staff/access",
    include_in_schema=False,
    dependencies=[Depends(require_roles(*SUPERVISORS))],
)
conflict_pages = APIRouter(
    prefix="/staff/admin/conflicts",
    include_in_schema=False,
    dependencies=[Depends(require_roles(*CONFLICT_ROLES))],
)


def _count(value: str | None) -> int | None:
    return int(value) if value is not None and value.isdigit() and len(value) < 7 else None


def _overview(principal: Principal) -> Callable[[Session], dict[str, Any]]:
    def work(session: Session) -> dict[str, Any]:
        if principal.role not in SUPERVISORS:
            return {"pending": [], "backlog": None, "requests": []}
        return {
            "pending": pending_for(session, principal),
            "backlog": access_backlog(session, principal.staff_id),
            "requests": pending_memberships(session, principal),
        }

    return work


@access_pages.get("", response_class=HTMLResponse)
def access_page(request: Request, principal: Viewer, pages: PagesDep) -> HTMLResponse:
    context = run_transaction(session_factory(request), _overview(principal))
    notice = request.query_params.get("notice")
    context |= {
        "csrf": csrf_token(request, principal),
        "supervisor": principal.role in SUPERVISORS,
        "applied": _count(request.query_params.get("applied")),
        "notice": notice if notice in ("approved", "rejected") else None,
    }
    return pages.render(request, "staff/access.html", context)


@apply_pages.post("/apply")
def apply_submit(request: Request, principal: Supervisor, form: StaffForm) -> Response:
    count = run_transaction(session_factory(request), lambda s: apply_pending(s, principal))
    target = lang_url(f"/staff/access?applied={count}", pick_language(request))
    return RedirectResponse(target, status_code=303)


@apply_pages.post("/memberships")
def membership_submit(request: Request, principal: Supervisor, form: StaffForm) -> Response:
    decision = one(form, "decision")
    if decision not in ("approve", "reject"):
        raise InvalidInput("decision: approve or reject", fields={"decision": "invalid"})
    try:
        staff_id = uuid.UUID(one(form, "staff_id"))
    except ValueError:
        raise NotFound("no such membership request") from None
    compartment = one(form, "compartment")[:64]
    run_transaction(
        session_factory(request),
        lambda s: decide_membership(
            s, principal, compartment=compartment, staff_id=staff_id, approve=decision == "approve"
        ),
    )
    notice = "approved" if decision == "approve" else "rejected"
    target = lang_url(f"/staff/access?notice={notice}", pick_language(request))
    return RedirectResponse(target, status_code=303)


def _render_conflicts(
    request: Request,
    pages: Pages,
    principal: Principal,
    *,
    username: str = "",
    kind: str = "",
    error: str | None = None,
    done: bool = False,
    status_code: int = 200,
) -> HTMLResponse:
    context = {
        "csrf": csrf_token(request, principal),
        "kinds": CONFLICT_KINDS,
        "username": username,
        "kind": kind,
        "error": error,
        "done": done,
    }
    return pages.render(request, "staff/conflicts.html", context, status_code=status_code)


@conflict_pages.get("", response_class=HTMLResponse)
def conflicts_page(request: Request, principal: Registrar, pages: PagesDep) -> HTMLResponse:
    done = request.query_params.get("notice") == "registered"
    return _render_conflicts(request, pages, principal, done=done)


@conflict_pages.post("", response_class=HTMLResponse)
async def conflicts_submit(
    request: Request, principal: Registrar, form: StaffForm, pages: PagesDep
) -> Response:
    username, kind = one(form, "username")[:64], one(form, "kind")[:8]
    try:
        body = ConflictIn(username=username, kind=kind, value=one(form, "value"))
    except ValidationError:
        return _render_conflicts(
            request, pages, principal, username=username, kind=kind, error="invalid",
            status_code=422,
        )  # fmt: skip
    ctx = await anyio.to_thread.run_sync(instance_context, request)
    work = conflict_work(principal, ctx.index_key, body)
    try:
        await anyio.to_thread.run_sync(run_transaction, session_factory(request), work)
    except NotFound:
        return _render_conflicts(
            request, pages, principal, kind=kind, error="unknown_user", status_code=404
        )
    except NotPermitted:
        return _render_conflicts(
            request, pages, principal, kind=kind, error="not_permitted", status_code=403
        )
    except InvalidInput as exc:
        error = "too_broad" if exc.fields.get("value") == "too_broad" else "invalid"
        return _render_conflicts(
            request, pages, principal, username=username, kind=kind, error=error,
            status_code=422,
        )  # fmt: skip
    target = lang_url("/staff/admin/conflicts?notice=registered", pick_language(request))
    return RedirectResponse(target, status_code=303)


router = APIRouter()
router.include_router(access_pages)
router.include_router(apply_pages)
router.include_router(conflict_pages)
