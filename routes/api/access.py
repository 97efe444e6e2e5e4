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
from functools import partial
from typing import Annotated, Any, Literal, TypeVar

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
    json_fields,
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
from routes.deps import Db, UnitOfWork, instance_context, listed, path_id, read_model, run_blocking
from routes.errors import errors
from routes.staff_auth import READERS, SUPERVISORS, require_roles
from service.access.changes import ChangeView, decidable_changes, decide_change
from service.access.conflicts import (
    PendingConflict,
    decide_conflict,
    pending_conflicts,
    submit_conflict,
)
from service.access.memberships import PendingMember, decide_membership, pending_memberships
from service.access.readerless import ReaderlessTip, readerless_for
from service.access.service import MAX_CONFLICT_VALUE, PendingTip, apply_pending, pending_for
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
T = TypeVar("T")


class ApplyIn(InputModel):
    tip_ids: list[uuid.UUID] | None = Field(default=None, max_length=1000)


class ConflictIn(InputModel):
    username: str = Field(max_length=64)
    kind: Literal["name", "badge", "unit"]
    value: str = Field(max_length=MAX_CONFLICT_VALUE)


def rewrite_json(pending: PendingTip) -> dict[str, Any]:
    return json_fields(pending, "tip_id", "adds", "removes")


def membership_json(pending: PendingMember) -> dict[str, Any]:
    return json_fields(pending, "compartment", "staff_id", "username", "role", "requested_at")


def change_json(change: ChangeView) -> dict[str, Any]:
    names = ("id", "kind", "compartment", "agency", "agency_name", "username", "requested_by")
    return {**json_fields(change, *names, "requested_at"), "previous_compartment": change.previous}


def conflict_json(pending: PendingConflict) -> dict[str, Any]:
    return json_fields(
        pending, "id", "staff_id", "username", "kind", "requested_by", "requested_at"
    )


def readerless_json(tip: ReaderlessTip) -> dict[str, Any]:
    return {
        **json_fields(tip, "tip_id", "compartment", "received_on"),
        "readerless_since": tip.since.isoformat() if tip.since else None,
    }


async def _decide(
    request: Request, principal: Principal, db: UnitOfWork, decide: Callable[..., T], **target: Any
) -> tuple[bool, T]:
    """Read `{"approve": bool}` and decide the request `target` names, in one transaction."""
    body = await read_model(request, DecisionIn, limit=SMALL_BODY)
    work = partial(decide, principal=principal, approve=body.approve, **target)
    return body.approve, await db.run_in_thread(work)


@access_api.get("/pending", response_model=PendingRewrites)
async def get_pending(principal: Supervisor, db: Db) -> dict[str, Any]:
    return {"tips": await listed(db, pending_for, principal, rewrite_json)}


@access_api.post(
    "/apply",
    response_model=Rewritten,
    responses={**errors(409), **BODY_ERRORS, **STORE_ERRORS},
    openapi_extra=request_body(ApplyIn, required=False),
)
async def post_apply(request: Request, principal: Supervisor, db: Db) -> dict[str, int]:
    body = await read_model(request, ApplyIn, limit=SMALL_BODY, optional=True)
    apply = partial(apply_pending, principal=principal, tip_ids=body.tip_ids)
    return {"rewritten": await db.run_in_thread(apply)}


@access_api.get("/memberships", response_model=PendingMemberships)
async def get_memberships(principal: Supervisor, db: Db) -> dict[str, Any]:
    return {"memberships": await listed(db, pending_memberships, principal, membership_json)}


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
    staff = path_id(staff_id, "membership request")
    approved, queued = await _decide(
        request, principal, db, decide_membership, compartment=compartment[:64], staff_id=staff
    )
    return {"approved": approved, "tips_queued": queued}


@access_api.get("/changes", response_model=AccessChanges)
async def get_changes(principal: Supervisor, db: Db) -> dict[str, Any]:
    return {"changes": await listed(db, decidable_changes, principal, change_json)}


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
    approved, _ = await _decide(request, principal, db, decide_change, request_id=wanted)
    return {"approved": approved}


@access_api.get("/conflicts", response_model=ConflictRequests)
async def get_conflicts(principal: Supervisor, db: Db) -> dict[str, Any]:
    return {"conflicts": await listed(db, pending_conflicts, principal, conflict_json)}


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
    approved, _ = await _decide(request, principal, db, decide_conflict, request_id=wanted)
    return {"approved": approved}


@access_api.get("/readerless", response_model=ReaderlessTips)
async def get_readerless(principal: Supervisor, db: Db) -> dict[str, Any]:
    return {"tips": await listed(db, readerless_for, principal, readerless_json)}


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
