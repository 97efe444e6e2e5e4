"""Four-eyes decisions over the API (supervisors only):

- `GET /api/v1/approvals`: pending requests the caller may decide (tips in their audience, filed
  by someone else, and - "decider": "oversight" - closures nobody else in a tip's audience can
  decide, for oversight supervisors outside it): ids, kinds, requester, date and code payloads,
  never content;
- `POST /api/v1/approvals/{id}/decision` {"approve": bool, "reason"?}: 200 with the outcome; 403
  for one's own request, 404 outside the audience (unless deciding as oversight), 409 once
  decided or when the action is refused;
- `GET /api/v1/approvals/contested`: closures a reporter contested, content-free (oversight
  supervisors only, 403 otherwise);
- `POST /api/v1/approvals/contested/{tip_id}/reroute`: 202 with the id of a REROUTE request to
  oversight, which a supervisor of the tip's audience decides (they hold its keys).
"""

from __future__ import annotations

from functools import partial
from typing import Annotated, Any

from fastapi import APIRouter, Depends, Request
from fastapi.responses import JSONResponse
from pydantic import Field

from routes.api.schemas import (
    BODY_ERRORS,
    SMALL_BODY,
    STAFF_ERRORS,
    STORE_ERRORS,
    DecisionIn,
    json_fields,
    request_body,
)
from routes.api.schemas_staff import (
    ApprovalDecided,
    ContestedTips,
    PendingApprovals,
    RerouteRequested,
)
from routes.deps import Db, listed, path_id, read_model, run_blocking
from routes.errors import errors
from routes.staff_auth import SUPERVISORS, require_roles
from service.approvals import service as approvals
from service.approvals.contested import ContestedTip, contested_tips, request_oversight_reroute
from service.approvals.requests import REASON_MAX
from service.db import utcnow
from service.inputs import MULTILINE
from service.staff.sessions import Principal
from service.tips.purge import shrink_wal

__all__ = ["ApprovalDecisionIn", "after_decision", "contested_json", "pending_json", "router"]

router = APIRouter(
    prefix="/api/v1/approvals",
    tags=["approvals"],
    dependencies=[Depends(require_roles(*SUPERVISORS))],
    responses=STAFF_ERRORS,
)
Supervisor = Annotated[Principal, Depends(require_roles(*SUPERVISORS))]


class ApprovalDecisionIn(DecisionIn):
    reason: Annotated[str | None, MULTILINE] = Field(default=None, max_length=REASON_MAX)


async def after_decision(request: Request, decision: approvals.Decision) -> None:
    """After the commit of an approved purge: truncate SQLite's WAL (cheap, and harmless before
    the worker's purge; the worker truncates it again once the tip and its key are gone)."""
    if decision.kind == "purge" and decision.status == "approved":
        await run_blocking(shrink_wal, request.app.state.engine)


def pending_json(item: approvals.PendingApproval) -> dict[str, Any]:
    names = ("id", "tip_id", "kind", "requested_by", "requested_at", "payload", "decider")
    return json_fields(item, *names)


@router.get("", response_model=PendingApprovals)
async def list_pending(principal: Supervisor, db: Db) -> dict[str, Any]:
    """Pending requests this supervisor may decide, oldest first."""
    return {"approvals": await listed(db, approvals.pending_for, principal, pending_json)}


@router.post(
    "/{approval_id}/decision",
    response_model=ApprovalDecided,
    responses={**errors(404, 409), **BODY_ERRORS, **STORE_ERRORS},
    openapi_extra=request_body(ApprovalDecisionIn),
)
async def post_decision(
    approval_id: str, request: Request, principal: Supervisor, db: Db
) -> dict[str, str]:
    """Approve (the action is carried out at once; a purge by the worker within a minute) or
    reject a pending request."""
    wanted = path_id(approval_id, "request")
    body = await read_model(request, ApprovalDecisionIn, limit=SMALL_BODY)
    decide = partial(approvals.decide, principal=principal, approval_id=wanted, now=utcnow())
    decision = await db.run_in_thread(partial(decide, **dict(body)))
    await after_decision(request, decision)
    return json_fields(decision, "id", "kind", "status", "detail")


def contested_json(item: ContestedTip) -> dict[str, Any]:
    names = ("tip_id", "compartment", "closure_reason", "closed_on", "contested_on")
    return json_fields(item, *names, "in_oversight", "reroute_pending")


@router.get("/contested", response_model=ContestedTips)
async def list_contested(principal: Supervisor, db: Db) -> dict[str, Any]:
    """Closures reporters contested, most recent first (oversight supervisors only)."""
    return {"tips": await listed(db, contested_tips, principal, contested_json)}


@router.post(
    "/contested/{tip_id}/reroute",
    status_code=202,
    response_model=RerouteRequested,
    responses={**errors(404, 409), **STORE_ERRORS},
)
async def post_contested_reroute(tip_id: str, principal: Supervisor, db: Db) -> JSONResponse:
    """Ask for the contested tip to be rerouted to oversight: 202 with the request's id."""
    wanted = path_id(tip_id, "contested tip")
    reroute = partial(request_oversight_reroute, principal=principal, tip_id=wanted, now=utcnow())
    approval = await db.run_in_thread(reroute)
    return JSONResponse({"approval_id": str(approval.id), "status": "pending"}, status_code=202)
