"""Access pages (no JavaScript, English and Spanish):

- `GET /staff/access` (supervisors and admins): for a supervisor, the membership requests they
  may approve (username, role, compartment) and the pending envelope rewrites they can apply,
  counted per tip, with backlog counts over their own tips only; admins hold no tip keys, decide
  nothing here and see no counts (global counts were an oracle of which names match reports);
- `POST /staff/access/apply` (supervisors): rewrite them now with the signed-in supervisor's key;
- `POST /staff/access/memberships` (supervisors; compartment, staff_id, decision=approve|reject):
  four-eyes on a membership an admin requested;
- the same page lists admins' change requests (routing, new agencies, supervisor removals):
  a supervisor sees those they may decide, with what changes, and decides them with
  `POST /staff/access/changes` (request_id, decision); an admin sees every pending one, marked
  waiting for approval;
- `POST /staff/access/conflicts` (supervisors; request_id, decision=approve|reject): a second
  supervisor's decision on a conflict registered for someone else. The page lists those requests
  (whose, which kind, who asked, when) and, for oversight supervisors, the reports nobody can read;
- `GET/POST /staff/admin/conflicts` (reviewers and supervisors): register a conflict for oneself
  (in force at once) or, a supervisor, request one for a member of one's compartments. The value
  is never shown back, and the answer never says how many tips matched.

Imports FastAPI, `routes.*` and `service.*`.
"""

from __future__ import annotations

import uuid
from collections.abc import Callable
from typing import Annotated, Any

from fastapi import APIRouter, Depends, Request
from fastapi.responses import HTMLResponse, RedirectResponse, Response
from pydantic import ValidationError
from sqlalchemy.orm import Session

from routes.api.access import CONFLICT_ROLES, ConflictIn, conflict_work
from routes.deps import Db, instance_context, run_blocking
from routes.i18n import pick_language
from routes.pages.report_fields import one
from routes.staff_auth import ADMINS, SUPERVISORS, StaffForm, csrf_token, require_roles
from routes.templating import Pages, get_pages, lang_url
from service.access.changes import decidable_changes, decide_change, pending_changes
from service.access.conflicts import decide_conflict, pending_conflicts
from service.access.memberships import decide_membership, pending_memberships
from service.access.readerless import access_backlog, is_oversight_supervisor, readerless_tips
from service.access.service import CONFLICT_KINDS, apply_pending, pending_for
from service.errors import InvalidInput, NotFound, NotPermitted
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


NOTICES = (
    "approved",
    "rejected",
    "change_approved",
    "change_rejected",
    "conflict_approved",
    "conflict_rejected",
)


def _decision(form: StaffForm) -> bool:
    decision = one(form, "decision")
    if decision not in ("approve", "reject"):
        raise InvalidInput("decision: approve or reject", fields={"decision": "invalid"})
    return decision == "approve"


def _count(value: str | None) -> int | None:
    return int(value) if value is not None and value.isdigit() and len(value) < 7 else None


def _overview(principal: Principal) -> Callable[[Session], dict[str, Any]]:
    def work(session: Session) -> dict[str, Any]:
        if principal.role not in SUPERVISORS:
            changes = pending_changes(session)
            return {
                "pending": [],
                "backlog": None,
                "requests": [],
                "changes": changes,
                "conflicts": [],
                "readerless": None,
            }
        oversight = is_oversight_supervisor(session, principal)
        return {
            "pending": pending_for(session, principal),
            "backlog": access_backlog(session, principal.staff_id),
            "requests": pending_memberships(session, principal),
            "changes": decidable_changes(session, principal),
            "conflicts": pending_conflicts(session, principal),
            "readerless": readerless_tips(session) if oversight else None,
        }

    return work


@access_pages.get("", response_class=HTMLResponse)
def access_page(request: Request, principal: Viewer, pages: PagesDep, db: Db) -> HTMLResponse:
    context = db.run(_overview(principal))
    notice = request.query_params.get("notice")
    context |= {
        "csrf": csrf_token(request, principal),
        "supervisor": principal.role in SUPERVISORS,
        "applied": _count(request.query_params.get("applied")),
        "notice": notice if notice in NOTICES else None,
    }
    return pages.render(request, "staff/access.html", context)


@apply_pages.post("/apply")
def apply_submit(request: Request, principal: Supervisor, form: StaffForm, db: Db) -> Response:
    count = db.run(lambda s: apply_pending(s, principal))
    target = lang_url(f"/staff/access?applied={count}", pick_language(request))
    return RedirectResponse(target, status_code=303)


def _form_id(form: StaffForm, field: str, what: str) -> uuid.UUID:
    try:
        return uuid.UUID(one(form, field))
    except ValueError:
        raise NotFound(f"no such {what}") from None


def _decided(request: Request, notice: str) -> Response:
    target = lang_url(f"/staff/access?notice={notice}", pick_language(request))
    return RedirectResponse(target, status_code=303)


@apply_pages.post("/memberships")
def membership_submit(request: Request, principal: Supervisor, form: StaffForm, db: Db) -> Response:
    approve = _decision(form)
    staff_id = _form_id(form, "staff_id", "membership request")
    compartment = one(form, "compartment")[:64]
    db.run(
        lambda s: decide_membership(
            s, principal, compartment=compartment, staff_id=staff_id, approve=approve
        ),
    )
    return _decided(request, "approved" if approve else "rejected")


@apply_pages.post("/conflicts")
def conflict_decision_submit(
    request: Request, principal: Supervisor, form: StaffForm, db: Db
) -> Response:
    approve = _decision(form)
    request_id = _form_id(form, "request_id", "conflict request")
    db.run(
        lambda s: decide_conflict(s, principal, request_id=request_id, approve=approve),
    )
    return _decided(request, "conflict_approved" if approve else "conflict_rejected")


@apply_pages.post("/changes")
def change_submit(request: Request, principal: Supervisor, form: StaffForm, db: Db) -> Response:
    approve = _decision(form)
    request_id = _form_id(form, "request_id", "change request")
    db.run(
        lambda s: decide_change(s, principal, request_id=request_id, approve=approve),
    )
    return _decided(request, "change_approved" if approve else "change_rejected")


def _render_conflicts(
    request: Request,
    pages: Pages,
    principal: Principal,
    *,
    username: str = "",
    kind: str = "",
    error: str | None = None,
    done: str | None = None,
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
    notice = request.query_params.get("notice")
    done = notice if notice in ("registered", "requested") else None
    return _render_conflicts(request, pages, principal, done=done)


@conflict_pages.post("", response_class=HTMLResponse)
async def conflicts_submit(
    request: Request, principal: Registrar, form: StaffForm, pages: PagesDep, db: Db
) -> Response:
    username, kind = one(form, "username")[:64], one(form, "kind")[:8]
    try:
        body = ConflictIn(username=username, kind=kind, value=one(form, "value"))
    except ValidationError:
        return _render_conflicts(
            request,
            pages,
            principal,
            username=username,
            kind=kind,
            error="invalid",
            status_code=422,
        )
    ctx = await run_blocking(instance_context, request)
    work = conflict_work(principal, ctx.index_key, body)
    try:
        in_force = await db.run_in_thread(work)
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
            request,
            pages,
            principal,
            username=username,
            kind=kind,
            error=error,
            status_code=422,
        )
    notice = "registered" if in_force else "requested"
    target = lang_url(f"/staff/admin/conflicts?notice={notice}", pick_language(request))
    return RedirectResponse(target, status_code=303)


router = APIRouter()
router.include_router(access_pages)
router.include_router(apply_pages)
router.include_router(conflict_pages)
