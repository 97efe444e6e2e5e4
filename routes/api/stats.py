"""Content-free statistics over the API: `GET /api/v1/stats` (the figures of /audit/stats).

Who may read them: auditors, supervisors (they watch deadlines) and admins; never reviewers, whose
view is their own queue. Every figure is a count, a day count or a category; per-compartment
weekly cells below 3 are null with the label "<3", and a second cell "*" where one alone could be
worked out from the totals (docs/audit.md). Each read is an audit entry.
"""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Depends, Query

from routes.api.schemas import STAFF_ERRORS, STORE_ERRORS
from routes.api.schemas_audit import Statistics
from routes.deps import Db, UnitOfWork
from routes.staff_auth import ADMINS, AUDITORS, SUPERVISORS, require_roles
from service.audit.log import record
from service.audit.stats import Stats, as_json, stats
from service.db import utcnow
from service.staff.sessions import Principal

__all__ = ["MAX_WEEKS", "STATS_ROLES", "read_stats", "router"]

STATS_ROLES = (*AUDITORS, *SUPERVISORS, *ADMINS)
MAX_WEEKS = 104

router = APIRouter(
    prefix="/api/v1",
    tags=["stats"],
    dependencies=[Depends(require_roles(*STATS_ROLES))],
    responses=STAFF_ERRORS,
)
Reader = Annotated[Principal, Depends(require_roles(*STATS_ROLES))]


def read_stats(db: UnitOfWork, principal: Principal, weeks: int, *, via: str) -> Stats:
    """The figures, and the audit entry of who read them, in one transaction (shared with the
    /audit/stats page: `via` says which)."""
    with db.transaction() as session:
        result = stats(session, today=utcnow().date(), weeks=weeks)
        record(
            session,
            actor=principal.staff_id,
            action="stats.viewed",
            details={"via": via, "weeks": weeks},
        )
    return result


@router.get("/stats", response_model=Statistics, responses=STORE_ERRORS)
def get_stats(
    principal: Reader,
    db: Db,
    weeks: Annotated[int, Query(ge=1, le=MAX_WEEKS)] = 26,
) -> dict[str, Any]:
    """Tips per ISO week, time to acknowledge, deadline compliance, closures by reason and
    finding, open tips per status: overall and per compartment, counts only."""
    return as_json(read_stats(db, principal, weeks, via="api"))
