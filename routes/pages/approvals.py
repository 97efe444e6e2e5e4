"""`GET /staff/approvals`: the four-eyes requests a supervisor may decide (tips in their audience,
filed by others, and closures they decide as oversight) with approve/reject forms, the reader's
own requests still waiting, closed tips whose retention ends soon (supervisors of their
compartment), and - for oversight supervisors - contested closures. Ids, kinds,
requesters and dates only: never content. `POST /staff/approvals/{id}/decision` (supervisors;
approve "1" or "0", reason, back "tip" to return to the tip page);
`POST /staff/contested/{tip_id}/reroute` (oversight supervisors: ask for a reroute to oversight).
"""

from __future__ import annotations

from functools import partial
from typing import Annotated

from fastapi import APIRouter, Depends, Request
from fastapi.responses import HTMLResponse, Response
from sqlalchemy.orm import Session

from routes.api.approvals import after_decision
from routes.deps import Db, path_id, settings_of
from routes.pages.report_fields import one
from routes.pages.staff_post import StaffPost, staff_post
from routes.staff_auth import READERS, SUPERVISORS, csrf_token, require_roles
from routes.templating import PagesDep, see_other
from service.approvals import service as approvals
from service.approvals.contested import ContestedTip, contested_tips, request_oversight_reroute
from service.db import utcnow
from service.errors import Forbidden, InvalidInput, ProbityError
from service.retention.service import ExpiringTip, expiring_tips
from service.staff.models import Role
from service.staff.sessions import Principal

__all__ = ["router"]

router = APIRouter(include_in_schema=False, dependencies=[Depends(require_roles(*READERS))])
Reader = Annotated[Principal, Depends(require_roles(*READERS))]
SupervisorPost = Annotated[StaffPost, Depends(staff_post(*SUPERVISORS))]
LIST = "/staff/approvals"


@router.get("/staff/approvals", response_class=HTMLResponse)
def approvals_page(request: Request, principal: Reader, pages: PagesDep, db: Db) -> HTMLResponse:
    Rows = list[approvals.PendingApproval]

    Expiring = list[ExpiringTip] | None
    settings = settings_of(request)

    def load(session: Session) -> tuple[Rows, Rows, list[ContestedTip] | None, Expiring]:
        if principal.role is not Role.SUPERVISOR:
            return [], approvals.own_pending(session, principal), None, None
        try:
            contested: list[ContestedTip] | None = contested_tips(session, principal)
        except Forbidden:  # not an oversight supervisor: no such section
            contested = None
        decide = approvals.pending_for(session, principal)
        expiring = expiring_tips(session, principal, settings, today=utcnow().date())
        return decide, approvals.own_pending(session, principal), contested, expiring

    to_decide, mine, contested, expiring = db.run(load)
    context = {
        "to_decide": to_decide,
        "mine": mine,
        "contested": contested,
        "expiring": expiring,
        "can_decide": principal.role is Role.SUPERVISOR,
        "csrf": csrf_token(request, principal),
    }
    return pages.render(request, "staff/approvals.html", context)


@router.post("/staff/approvals/{approval_id}/decision")
async def post_decision(approval_id: str, post: SupervisorPost) -> Response:
    try:
        wanted = path_id(approval_id, "request")
        approve = {"1": True, "0": False}.get(one(post.fields, "approve"))
        if approve is None:
            raise InvalidInput("approve: 1 or 0", fields={"approve": "format"})
        reason = one(post.fields, "reason").strip() or None
        decide = partial(
            approvals.decide,
            principal=post.principal,
            approval_id=wanted,
            approve=approve,
            reason=reason,
            now=utcnow(),
        )
        decision = await post.db.run_in_thread(decide)
    except ProbityError as exc:
        return post.refuse(exc, LIST)
    await after_decision(post.request, decision)
    back = f"/staff/tips/{decision.tip_id}" if one(post.fields, "back") == "tip" else LIST
    return see_other(post.request, back)


@router.post("/staff/contested/{tip_id}/reroute")
async def post_contested_reroute(tip_id: str, post: SupervisorPost) -> Response:
    """An oversight supervisor asks for a contested tip to be rerouted to oversight."""
    try:
        wanted = path_id(tip_id, "contested tip")
    except ProbityError as exc:
        return post.refuse(exc, LIST)
    work = partial(request_oversight_reroute, principal=post.principal, tip_id=wanted, now=utcnow())
    return await post.act(LIST, work)
