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
from functools import partial
from typing import Annotated, Any

from fastapi import APIRouter, Depends, Request
from fastapi.responses import HTMLResponse, Response
from pydantic import ValidationError
from sqlalchemy.orm import Session

from routes.api.access import CONFLICT_ROLES, ConflictIn, conflict_work
from routes.deps import Db, instance_context, run_blocking
from routes.pages.forms import Fields
from routes.pages.report_fields import one
from routes.pages.staff_post import StaffPost, staff_post
from routes.staff_auth import ADMINS, SUPERVISORS, csrf_token, require_roles
from routes.templating import Pages, PagesDep, notice_of, see_other
from service.access.changes import decidable_changes, decide_change, pending_changes
from service.access.conflicts import decide_conflict, pending_conflicts
from service.access.memberships import decide_membership, pending_memberships
from service.access.readerless import access_backlog, is_oversight_supervisor, readerless_tips
from service.access.service import CONFLICT_KINDS, apply_pending, pending_for
from service.errors import InvalidInput, NotFound, NotPermitted
from service.staff.sessions import Principal

__all__ = ["router"]

ACCESS_ROLES = (*SUPERVISORS, *ADMINS)
Viewer = Annotated[Principal, Depends(require_roles(*ACCESS_ROLES))]
Registrar = Annotated[Principal, Depends(require_roles(*CONFLICT_ROLES))]
SupervisorPost = Annotated[StaffPost, Depends(staff_post(*SUPERVISORS))]
RegistrarPost = Annotated[StaffPost, Depends(staff_post(*CONFLICT_ROLES))]

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


_VERDICTS = {True: "approved", False: "rejected"}


def _decision(form: Fields) -> bool:
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
    context |= {
        "csrf": csrf_token(request, principal),
        "supervisor": principal.role in SUPERVISORS,
        "applied": _count(request.query_params.get("applied")),
        "notice": notice_of(request, NOTICES),
    }
    return pages.render(request, "staff/access.html", context)


@apply_pages.post("/apply")
def apply_submit(post: SupervisorPost) -> Response:
    count = post.db.run(partial(apply_pending, principal=post.principal))
    return see_other(post.request, f"/staff/access?applied={count}")


def _form_id(form: Fields, field: str, what: str) -> uuid.UUID:
    try:
        return uuid.UUID(one(form, field))
    except ValueError:
        raise NotFound(f"no such {what}") from None


def _decide(
    post: StaffPost, decide: Callable[..., object], approve: bool, notices: str, **target: Any
) -> Response:
    """One decision in one transaction, then the page again with `<notices>approved|rejected`."""
    post.db.run(partial(decide, principal=post.principal, approve=approve, **target))
    return see_other(post.request, f"/staff/access?notice={notices}{_VERDICTS[approve]}")


@apply_pages.post("/memberships")
def membership_submit(post: SupervisorPost) -> Response:
    approve = _decision(post.fields)
    staff_id = _form_id(post.fields, "staff_id", "membership request")
    compartment = one(post.fields, "compartment")[:64]
    return _decide(post, decide_membership, approve, "", compartment=compartment, staff_id=staff_id)


@apply_pages.post("/conflicts")
def conflict_decision_submit(post: SupervisorPost) -> Response:
    approve = _decision(post.fields)
    request_id = _form_id(post.fields, "request_id", "conflict request")
    return _decide(post, decide_conflict, approve, "conflict_", request_id=request_id)


@apply_pages.post("/changes")
def change_submit(post: SupervisorPost) -> Response:
    approve = _decision(post.fields)
    request_id = _form_id(post.fields, "request_id", "change request")
    return _decide(post, decide_change, approve, "change_", request_id=request_id)


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
    done = notice_of(request, ("registered", "requested"))
    return _render_conflicts(request, pages, principal, done=done)


def _refused(post: StaffPost, username: str, kind: str, exc: Exception) -> HTMLResponse:
    """The form again with why it was refused; the username only where it was not the fault."""
    if isinstance(exc, NotFound):
        error, status, keep = "unknown_user", 404, False
    elif isinstance(exc, NotPermitted):
        error, status, keep = "not_permitted", 403, False
    else:  # the form's values (ValidationError, InvalidInput)
        too_broad = isinstance(exc, InvalidInput) and exc.fields.get("value") == "too_broad"
        error, status, keep = "too_broad" if too_broad else "invalid", 422, True
    return _render_conflicts(
        post.request,
        post.pages,
        post.principal,
        username=username if keep else "",
        kind=kind,
        error=error,
        status_code=status,
    )


@conflict_pages.post("", response_class=HTMLResponse)
async def conflicts_submit(post: RegistrarPost) -> Response:
    username, kind = one(post.fields, "username")[:64], one(post.fields, "kind")[:8]
    try:
        body = ConflictIn(username=username, kind=kind, value=one(post.fields, "value"))
    except ValidationError as exc:
        return _refused(post, username, kind, exc)
    ctx = await run_blocking(instance_context, post.request)
    try:
        in_force = await post.db.run_in_thread(conflict_work(post.principal, ctx.index_key, body))
    except (NotFound, NotPermitted, InvalidInput) as exc:
        return _refused(post, username, kind, exc)
    notice = "registered" if in_force else "requested"
    return see_other(post.request, f"/staff/admin/conflicts?notice={notice}")


router = APIRouter()
router.include_router(access_pages)
router.include_router(apply_pages)
router.include_router(conflict_pages)
