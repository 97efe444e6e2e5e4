"""`GET /api/v1/retention/expiring`: closed tips of the supervisor's compartments whose retention
ends within PROBITY_RETENTION_WARNING_DAYS (or ended), content-free (service.retention.service)."""

from __future__ import annotations

from functools import partial
from typing import Annotated, Any

from fastapi import APIRouter, Depends, Request

from routes.api.schemas import STAFF_ERRORS, json_fields
from routes.api.schemas_staff import ExpiringTips
from routes.deps import Db, listed, settings_of
from routes.staff_auth import SUPERVISORS, require_roles
from service.db import utcnow
from service.retention.service import ExpiringTip, expiring_tips
from service.staff.sessions import Principal

__all__ = ["router"]

router = APIRouter(
    prefix="/api/v1/retention",
    tags=["retention"],
    dependencies=[Depends(require_roles(*SUPERVISORS))],
    responses=STAFF_ERRORS,
)
Supervisor = Annotated[Principal, Depends(require_roles(*SUPERVISORS))]


def expiring_json(item: ExpiringTip) -> dict[str, Any]:
    names = ("tip_id", "compartment", "closed_on", "expires_on", "legal_hold", "purge_requested")
    return json_fields(item, *names)


@router.get("/expiring", response_model=ExpiringTips)
async def list_expiring(request: Request, principal: Supervisor, db: Db) -> dict[str, Any]:
    """Closed tips whose retention ends soon, soonest first (supervisors of their compartment)."""
    query = partial(expiring_tips, settings=settings_of(request), today=utcnow().date())
    return {"tips": await listed(db, query, principal, expiring_json)}
