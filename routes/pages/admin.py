"""Admin pages under /staff/admin: staff accounts, compartments and members, agencies and routing.

Admins only (router-level `require_roles(*ADMINS)`); every form checks CSRF; every change is
audited by the service layer. Nothing here shows or grants tip content. A refused change rolls
back whole and re-shows the page with the reason. Routing an agency, adding one and removing a
supervisor become requests a supervisor decides (service.access.changes): the pages list them
as waiting for approval.

Imports FastAPI, `routes.*` and `service.*`.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Annotated, Any
from urllib.parse import urlencode

from fastapi import APIRouter, Depends, Request
from fastapi.responses import HTMLResponse, Response
from sqlalchemy.orm import Session

from routes.deps import Db, UnitOfWork, settings_of
from routes.pages.report_fields import one
from routes.pages.staff_post import StaffPost, staff_post
from routes.staff_auth import ADMINS, csrf_token, require_roles
from routes.templating import Pages, PagesDep, notice_of, see_other
from service.access import memberships
from service.access.changes import pending_changes
from service.access.models import AdminRequest, RequestKind
from service.agencies import service as agencies
from service.agencies.repository import list_agencies
from service.compartments import service as compartments
from service.compartments.repository import list_compartments
from service.errors import InvalidInput, ProbityError
from service.staff import admin, recovery
from service.staff.enrolment import ENROLMENT_TTL
from service.staff.repository import list_staff
from service.staff.service import parse_role
from service.staff.sessions import Principal

__all__ = ["router"]

router = APIRouter(
    prefix="/staff/admin",
    dependencies=[Depends(require_roles(*ADMINS))],
    include_in_schema=False,
)
Admin = Annotated[Principal, Depends(require_roles(*ADMINS))]
AdminPost = Annotated[StaffPost, Depends(staff_post(*ADMINS))]
# Why a list page is shown again after a change; a closed list, so the URL cannot inject text.
NOTICES = frozenset(
    {
        "deactivated",
        "compartment_added",
        "member_added",
        "member_removed",
        "agency_added",
        "agency_routed",
        "requested",
    }
)
Loader = Callable[[Session], dict[str, Any]]


def _load_staff(session: Session) -> dict[str, Any]:
    recoveries = RequestKind.STAFF_RECOVERY.value
    return {
        "members": list_staff(session),
        "compartments": list_compartments(session),
        "roles": ["reviewer", "supervisor", "admin", "auditor"],
        "changes": [c for c in pending_changes(session) if c.kind == recoveries],
    }


def _load_compartments(session: Session) -> dict[str, Any]:
    removals = RequestKind.SUPERVISOR_REMOVAL.value
    return {
        "compartments": list_compartments(session),
        "candidates": [s for s in list_staff(session) if s.role.value in READ_ROLES],
        "changes": [c for c in pending_changes(session) if c.kind == removals],
    }


def _load_agencies(session: Session) -> dict[str, Any]:
    others = (RequestKind.SUPERVISOR_REMOVAL.value, RequestKind.STAFF_RECOVERY.value)
    return {
        "agencies": list_agencies(session),
        "compartments": list_compartments(session),
        "changes": [c for c in pending_changes(session) if c.kind not in others],
    }


READ_ROLES = ("reviewer", "supervisor")
PAGES: dict[str, tuple[str, Loader]] = {
    "staff": ("staff/admin_staff.html", _load_staff),
    "compartments": ("staff/admin_compartments.html", _load_compartments),
    "agencies": ("staff/admin_agencies.html", _load_agencies),
}


def _render(
    request: Request,
    db: UnitOfWork,
    pages: Pages,
    principal: Principal,
    page: str,
    *,
    error: ProbityError | None = None,
) -> HTMLResponse:
    template, load = PAGES[page]
    with db.transaction() as session:
        context = load(session)
    context.update(
        csrf=csrf_token(request, principal),
        error=error.detail if error else None,
        notice=None if error else notice_of(request, NOTICES),
    )
    return pages.render(request, template, context, status_code=error.status if error else 200)


def _change(
    post: StaffPost, page: str, notice: str, service: Callable[..., object], **fields: Any
) -> Response:
    """Run `service` as this admin in one transaction: 303 back to the list, or the list with
    the reason. A change that became a request for a supervisor says so ("waiting for
    approval")."""
    try:
        with post.db.transaction() as session:
            if isinstance(service(session, actor=post.principal.staff_id, **fields), AdminRequest):
                notice = "requested"
    except ProbityError as exc:
        return _render(post.request, post.db, post.pages, post.principal, page, error=exc)
    return see_other(post.request, f"/staff/admin/{page}?notice={notice}")


@router.get("", response_class=HTMLResponse)
def admin_home(request: Request, principal: Admin, pages: PagesDep, db: Db) -> Response:
    with db.transaction() as session:
        counts = {
            "staff": len(list_staff(session)),
            "compartments": len(list_compartments(session)),
            "agencies": len(list_agencies(session)),
        }
    return pages.render(request, "staff/admin_home.html", {"counts": counts})


@router.get("/staff", response_class=HTMLResponse)
def staff_page(request: Request, principal: Admin, pages: PagesDep, db: Db) -> Response:
    return _render(request, db, pages, principal, "staff")


@router.get("/compartments", response_class=HTMLResponse)
def compartments_page(request: Request, principal: Admin, pages: PagesDep, db: Db) -> Response:
    return _render(request, db, pages, principal, "compartments")


@router.get("/agencies", response_class=HTMLResponse)
def agencies_page(request: Request, principal: Admin, pages: PagesDep, db: Db) -> Response:
    return _render(request, db, pages, principal, "agencies")


@router.post("/staff", response_class=HTMLResponse)
def add_staff(post: AdminPost) -> Response:
    """Create an account with no password and no keys; its one-time enrolment link is shown on
    this page only. The member chooses a password and gets their keys at /staff/enrol."""
    request, form, principal = post.request, post.fields, post.principal
    username, compartment = one(form, "username").strip(), one(form, "compartment")
    try:
        role = parse_role(one(form, "role"))
        with post.db.transaction() as session:
            token = admin.create_for_enrolment_as(
                session,
                principal.staff_id,
                username=username,
                role=role,
                now=settings_of(request).clock(),
                compartments=[compartment] if compartment else [],
            )
    except ProbityError as exc:
        return _render(request, post.db, post.pages, principal, "staff", error=exc)
    return _enrolment_page(request, post.pages, username, role.value, token, status_code=201)


@router.post("/staff/enrolment", response_class=HTMLResponse)
def reissue_enrolment(post: AdminPost) -> Response:
    """A new enrolment link, only for an account that never enrolled (the old link dies)."""
    request, principal, username = post.request, post.principal, one(post.fields, "username")
    try:
        with post.db.transaction() as session:
            token = admin.reissue_enrolment_as(
                session, principal.staff_id, username=username, now=settings_of(request).clock()
            )
            role = next(m.role.value for m in list_staff(session) if m.username == username)
    except ProbityError as exc:
        return _render(request, post.db, post.pages, principal, "staff", error=exc)
    return _enrolment_page(request, post.pages, username, role, token, status_code=200)


def _enrolment_page(
    request: Request, pages: Pages, username: str, role: str, token: str, *, status_code: int
) -> HTMLResponse:
    link = str(request.base_url).rstrip("/") + "/staff/enrol?" + urlencode({"token": token})
    hours = int(ENROLMENT_TTL.total_seconds() // 3600)
    context = {"username": username, "role": role, "link": link, "hours": hours}
    return pages.render(request, "staff/admin_staff_created.html", context, status_code=status_code)


@router.post("/staff/deactivate")
def deactivate(post: AdminPost) -> Response:
    username = one(post.fields, "username")
    return _change(post, "staff", "deactivated", admin.deactivate_staff, username=username)


@router.post("/staff/recovery")
def request_staff_recovery(post: AdminPost) -> Response:
    """File a recovery request for a member who lost their password: a supervisor of oversight
    approves it, then the operator carries it out with the recovery key (service.staff.recovery)."""
    username = one(post.fields, "username")
    return _change(post, "staff", "requested", recovery.request_recovery, username=username)


@router.post("/compartments")
def add_compartment(post: AdminPost) -> Response:
    name, oversight = one(post.fields, "name"), one(post.fields, "oversight") == "on"
    add = compartments.add_compartment_as
    return _change(post, "compartments", "compartment_added", add, name=name, oversight=oversight)


@router.post("/compartments/members")
def change_member(post: AdminPost) -> Response:
    """`action=add|remove`, `compartment`, `username`."""
    compartment, username, action = (
        one(post.fields, k) for k in ("compartment", "username", "action")
    )
    if action not in ("add", "remove"):
        error = InvalidInput("action must be add or remove", fields={"action": "choice"})
        return _render(
            post.request, post.db, post.pages, post.principal, "compartments", error=error
        )
    remove = action == "remove"
    change = memberships.remove_member_as if remove else memberships.add_member_as
    notice = "member_removed" if remove else "member_added"
    return _change(post, "compartments", notice, change, compartment=compartment, username=username)


@router.post("/agencies")
def add_agency(post: AdminPost) -> Response:
    fields = {
        k: one(post.fields, k) for k in ("slug", "name_en", "name_es", "compartment", "country")
    }
    return _change(post, "agencies", "agency_added", agencies.add_agency_as, **fields)


@router.post("/agencies/route")
def route_agency(post: AdminPost) -> Response:
    slug, compartment = one(post.fields, "slug"), one(post.fields, "compartment")
    route = agencies.route_agency
    return _change(post, "agencies", "agency_routed", route, slug=slug, compartment=compartment)
