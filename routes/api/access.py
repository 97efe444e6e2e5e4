"""Access changes over the API:

- `GET /api/v1/access/pending` (supervisors): pending envelope rewrites on tips whose keys the
  caller holds, counted per tip (no content, no names);
- `POST /api/v1/access/apply` (supervisors) `{"tip_ids": [...]}` (optional): rewrite them now with
  the caller's key; 409 and nothing changed when an envelope cannot be opened;
- `GET /api/v1/access/memberships` (supervisors): membership requests the caller may decide,
  with the username and role being added;
- `POST /api/v1/access/memberships/{compartment}/{staff_id}/decision` (supervisors)
  `{"approve": bool}`: four-eyes on a membership an admin requested (never one's own); approving
  queues the key adds for the compartment's existing tips;
- `GET /api/v1/access/changes` (supervisors): admins' change requests the caller may decide
  (routing an agency, adding an agency, removing a supervisor), with what changes;
- `POST /api/v1/access/changes/{request_id}/decision` (supervisors) `{"approve": bool}`: the
  change happens on approval (403 own or about oneself, 404 not yours to decide, 409 decided or
  no longer applicable);
- `GET /api/v1/access/conflicts` (supervisors): conflict requests the caller may decide (whose,
  which kind, who asked, when; never the value);
- `POST /api/v1/access/conflicts/{id}/decision` (supervisors) `{"approve": bool}`: a second
  supervisor's decision (never the registrar's nor the member's: 403); approving takes the member
  off every matching tip now;
- `GET /api/v1/access/readerless` (oversight supervisors): tips nobody can read, content-free,
  until the recovery key reroutes them;
- `POST /api/v1/conflicts` (reviewers and supervisors) `{"username","kind","value"}`: one's own
  conflict, in force at once (`201 {"registered": true}`; one's last-reader tips go to oversight
  with one's own keys), or - a supervisor - a request for a member of one of one's compartments
  (`202 {"registered": false, "pending": true}`), which waits for a second supervisor. 403
  otherwise (admins never). The answer never says how many tips matched nor echoes the value.
"""

from __future__ import annotations

import uuid
from collections.abc import Callable
from typing import Annotated, Any, Literal

from fastapi import APIRouter, Depends, Request, Response
from pydantic import Field
from sqlalchemy.orm import Session

from routes.api.schemas import (
    BODY_ERRORS,
    SMALL_BODY,
    STAFF_ERRORS,
    STORE_ERRORS,
    DecisionIn,
    answer,
    request_body,
)
from routes.api.schemas_staff import (
    AccessChanges,
    ConflictRegistered,
    ConflictRequests,
    Decided,
    MembershipDecided,
    PendingMemberships,
    PendingRewrites,
    ReaderlessTips,
    Rewritten,
)
from routes.deps import Db, instance_context, path_id, read_model, run_blocking
from routes.errors import errors
from routes.staff_auth import READERS, SUPERVISORS, require_roles
from service.access.changes import ChangeView, decidable_changes, decide_change
from service.access.conflicts import decide_conflict, pending_conflicts, submit_conflict
from service.access.memberships import decide_membership, pending_memberships
from service.access.readerless import readerless_for
from service.access.service import MAX_CONFLICT_VALUE, apply_pending, pending_for
from service.errors import NotFound
from service.inputs import InputModel
from service.staff.sessions import Principal

__all__ = ["CONFLICT_ROLES", "ConflictIn", "change_json", "conflict_work", "router"]

CONFLICT_ROLES = READERS

access_api = APIRouter(
    prefix="/api/v1/access",
    tags=["access"],
    dependencies=[Depends(require_roles(*SUPERVISORS))],
    responses=STAFF_ERRORS,
)
conflicts_api = APIRouter(
    prefix="/api/v1/conflicts",
    tags=["access"],
    dependencies=[Depends(require_roles(*CONFLICT_ROLES))],
    responses=STAFF_ERRORS,
)
# Deciding a request: 404 when not the caller's to decide, 409 once decided.
_DECISION = {**errors(404, 409), **BODY_ERRORS, **STORE_ERRORS}
Supervisor = Annotated[Principal, Depends(require_roles(*SUPERVISORS))]
ConflictRegistrar = Annotated[Principal, Depends(require_roles(*CONFLICT_ROLES))]


class ApplyIn(InputModel):
    tip_ids: list[uuid.UUID] | None = Field(default=None, max_length=1000)


class ConflictIn(InputModel):
    username: str = Field(max_length=64)
    kind: Literal["name", "badge", "unit"]
    value: str = Field(max_length=MAX_CONFLICT_VALUE)


@access_api.get("/pending", response_model=PendingRewrites)
async def get_pending(principal: Supervisor, db: Db) -> dict[str, Any]:
    pending = await db.run_in_thread(lambda s: pending_for(s, principal))
    return {
        "tips": [{"tip_id": str(p.tip_id), "adds": p.adds, "removes": p.removes} for p in pending]
    }


@access_api.post(
    "/apply",
    response_model=Rewritten,
    responses={**errors(409), **BODY_ERRORS, **STORE_ERRORS},
    openapi_extra=request_body(ApplyIn, required=False),
)
async def post_apply(request: Request, principal: Supervisor, db: Db) -> dict[str, int]:
    body = await read_model(request, ApplyIn, limit=SMALL_BODY, optional=True)
    count = await db.run_in_thread(lambda s: apply_pending(s, principal, tip_ids=body.tip_ids))
    return {"rewritten": count}


@access_api.get("/memberships", response_model=PendingMemberships)
async def get_memberships(principal: Supervisor, db: Db) -> dict[str, Any]:
    pending = await db.run_in_thread(lambda s: pending_memberships(s, principal))
    return {
        "memberships": [
            {
                "compartment": p.compartment,
                "staff_id": str(p.staff_id),
                "username": p.username,
                "role": p.role,
                "requested_at": p.requested_at.isoformat(),
            }
            for p in pending
        ]
    }


@access_api.post(
    "/memberships/{compartment}/{staff_id}/decision",
    response_model=MembershipDecided,
    responses=_DECISION,
    openapi_extra=request_body(DecisionIn),
)
async def post_membership_decision(
    compartment: str, staff_id: str, request: Request, principal: Supervisor, db: Db
) -> dict[str, Any]:
    """Approve or reject a pending membership (403 own, 404 not yours to decide, 409 decided)."""
    try:
        staff = uuid.UUID(staff_id)
    except ValueError:
        raise NotFound("no such membership request") from None
    body = await read_model(request, DecisionIn, limit=SMALL_BODY)
    queued = await db.run_in_thread(
        lambda s: decide_membership(
            s, principal, compartment=compartment[:64], staff_id=staff, approve=body.approve
        ),
    )
    return {"approved": body.approve, "tips_queued": queued}


def change_json(change: ChangeView) -> dict[str, Any]:
    return {
        "id": str(change.id),
        "kind": change.kind,
        "compartment": change.compartment,
        "previous_compartment": change.previous,
        "agency": change.agency,
        "agency_name": change.agency_name,
        "username": change.username,
        "requested_by": change.requested_by,
        "requested_at": change.requested_at.isoformat(),
    }


@access_api.get("/changes", response_model=AccessChanges)
async def get_changes(principal: Supervisor, db: Db) -> dict[str, Any]:
    changes = await db.run_in_thread(lambda s: decidable_changes(s, principal))
    return {"changes": [change_json(c) for c in changes]}


@access_api.post(
    "/changes/{request_id}/decision",
    response_model=Decided,
    responses=_DECISION,
    openapi_extra=request_body(DecisionIn),
)
async def post_change_decision(
    request_id: str, request: Request, principal: Supervisor, db: Db
) -> dict[str, bool]:
    """Approve (the change happens now) or reject an admin's change request."""
    wanted = path_id(request_id, "change request")
    body = await read_model(request, DecisionIn, limit=SMALL_BODY)
    await db.run_in_thread(
        lambda s: decide_change(s, principal, request_id=wanted, approve=body.approve)
    )
    return {"approved": body.approve}


@access_api.get("/conflicts", response_model=ConflictRequests)
async def get_conflicts(principal: Supervisor, db: Db) -> dict[str, Any]:
    pending = await db.run_in_thread(lambda s: pending_conflicts(s, principal))
    return {
        "conflicts": [
            {
                "id": str(p.id),
                "staff_id": str(p.staff_id),
                "username": p.username,
                "kind": p.kind,
                "requested_by": p.requested_by,
                "requested_at": p.requested_at.isoformat(),
            }
            for p in pending
        ]
    }


@access_api.post(
    "/conflicts/{request_id}/decision",
    response_model=Decided,
    responses=_DECISION,
    openapi_extra=request_body(DecisionIn),
)
async def post_conflict_decision(
    request_id: str, request: Request, principal: Supervisor, db: Db
) -> dict[str, bool]:
    """Approve or reject a conflict request (403 own or about oneself, 404 not yours/decided)."""
    wanted = path_id(request_id, "conflict request")
    body = await read_model(request, DecisionIn, limit=SMALL_BODY)
    await db.run_in_thread(
        lambda s: decide_conflict(s, principal, request_id=wanted, approve=body.approve),
    )
    return {"approved": body.approve}


@access_api.get("/readerless", response_model=ReaderlessTips)
async def get_readerless(principal: Supervisor, db: Db) -> dict[str, Any]:
    tips = await db.run_in_thread(lambda s: readerless_for(s, principal))
    return {
        "tips": [
            {
                "tip_id": str(t.tip_id),
                "compartment": t.compartment,
                "received_on": t.received_on.isoformat(),
                "readerless_since": t.since.isoformat() if t.since else None,
            }
            for t in tips
        ]
    }


def conflict_work(principal: Principal, key: bytes, body: ConflictIn) -> Callable[[Session], bool]:
    """The registration as one unit of work (shared with the conflicts page); True when it is
    in force, False when it waits for a second supervisor."""

    def work(session: Session) -> bool:
        return submit_conflict(
            session, principal, username=body.username, kind=body.kind, value=body.value, key=key
        )

    return work


@conflicts_api.post(
    "",
    status_code=201,
    response_model=ConflictRegistered,
    response_model_exclude_unset=True,  # `pending` only with the 202
    responses={
        **answer(202, ConflictRegistered, "Waits for a second supervisor"),
        **errors(404),
        **BODY_ERRORS,
        **STORE_ERRORS,
    },
    openapi_extra=request_body(ConflictIn),
)
async def post_conflict(
    request: Request, response: Response, principal: ConflictRegistrar, db: Db
) -> dict[str, bool]:
    body = await read_model(request, ConflictIn, limit=SMALL_BODY)
    ctx = await run_blocking(instance_context, request)
    if await db.run_in_thread(conflict_work(principal, ctx.index_key, body)):
        return {"registered": True}
    response.status_code = 202
    return {"registered": False, "pending": True}


router = APIRouter()
router.include_router(access_api)
router.include_router(conflicts_api)
