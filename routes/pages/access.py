"""Access pages (no JavaScript, English and Spanish):

- `GET /staff/access` (supervisors and admins): the pending envelope rewrites a supervisor can
  apply, counted per tip (no content, no names); admins hold no tip keys and see none;
- `POST /staff/access/apply` (supervisors): rewrite them now with the signed-in supervisor's key;
- `GET/POST /staff/admin/conflicts` (admins and supervisors): register a conflict for a staff
  member. The value is never shown back, and the answer never says how many tips matched.

Imports FastAPI, `routes.*` and `service.*`.
"""

from __future__ import annotations

from typing import Annotated

import anyio
from fastapi import APIRouter, Depends, Request
from fastapi.responses import HTMLResponse, RedirectResponse, Response
from pydantic import ValidationError

from routes.api.access import CONFLICT_ROLES, ConflictIn, conflict_work
from routes.deps import instance_context, run_transaction, session_factory
from routes.i18n import pick_language
from routes.pages.report_fields import one
from routes.staff_auth import ADMINS, SUPERVISORS, StaffForm, csrf_token, require_roles
from routes.templating import Pages, get_pages, lang_url
from service.access.service import CONFLICT_KINDS, access_backlog, apply_pending, pending_for
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


@access_pages.get("", response_class=HTMLResponse)
def access_page(request: Request, principal: Viewer, pages: PagesDep) -> HTMLResponse:
    pending, backlog = run_transaction(
        session_factory(request), lambda s: (pending_for(s, principal), access_backlog(s))
    )
    context = {
        "backlog": backlog,
        "csrf": csrf_token(request, principal),
        "pending": pending,
        "supervisor": principal.role in SUPERVISORS,
        "applied": _count(request.query_params.get("applied")),
    }
    return pages.render(request, "staff/access.html", context)


@apply_pages.post("/apply")
def apply_submit(request: Request, principal: Supervisor, form: StaffForm) -> Response:
    count = run_transaction(session_factory(request), lambda s: apply_pending(s, principal))
    target = lang_url(f"/staff/access?applied={count}", pick_language(request))
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
    except InvalidInput:
        return _render_conflicts(
            request, pages, principal, username=username, kind=kind, error="invalid",
            status_code=422,
        )  # fmt: skip
    target = lang_url("/staff/admin/conflicts?notice=registered", pick_language(request))
    return RedirectResponse(target, status_code=303)


router = APIRouter()
router.include_router(access_pages)
router.include_router(apply_pages)
router.include_router(conflict_pages)
