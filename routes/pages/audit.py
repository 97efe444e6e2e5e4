"""The auditor's pages: `/audit` (checkpoint status), `/audit/entries` (the log, filtered),
`/audit/stats` (content-free statistics with SVG charts), `/audit/cases.csv` (the case list).

Roles: the log pages are for auditors only; the statistics are also for supervisors (they watch
deadlines) and admins, like `GET /api/v1/stats`. Reviewers get 403 everywhere here. Every page
view is itself an audit entry (`audit.read`, `stats.viewed` or `audit.cases_exported`, filters
as scalar details) in the same transaction as the read (committed before the case list
streams). The log key used to check checkpoints comes from the key file, not
from the database, so a database rewrite cannot bring its own key.

Imports FastAPI, `routes.*`, `service.*` and `crypto`.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from datetime import date
from typing import Annotated, Any
from urllib.parse import urlencode

from fastapi import APIRouter, Depends, Query, Request
from fastapi.responses import HTMLResponse, StreamingResponse

from crypto.errors import CryptoError
from crypto.note import Verifier
from routes.api.audit_cases import CaseQuery, case_list_response
from routes.api.stats import MAX_WEEKS, STATS_ROLES, read_stats
from routes.deps import Db, settings_of
from routes.staff_auth import AUDITORS, require_roles
from routes.svg import Point, bar_chart, step_chart
from routes.templating import Pages, get_pages
from service.audit.alarm import read_alarm
from service.audit.log import record
from service.audit.stats import WeekCount
from service.audit.view import (
    MAX_LIMIT,
    CheckpointStatus,
    EntryFilters,
    checkpoint_status,
    list_entries,
)
from service.errors import InvalidInput
from service.instance.keys import log_verifiers
from service.staff.sessions import Principal

__all__ = ["router"]

_Q = Query(max_length=128)
Auditor = Annotated[Principal, Depends(require_roles(*AUDITORS))]
StatsReader = Annotated[Principal, Depends(require_roles(*STATS_ROLES))]
PagesDep = Annotated[Pages, Depends(get_pages)]


def _alarm_banner(request: Request) -> None:
    """Every audit page shows the signer's alarm (audit/_nav.html) until an operator clears it."""
    alarm = read_alarm(settings_of(request).effective_keys_dir)
    context = getattr(request.state, "page_context", None) or {}
    request.state.page_context = {**context, "audit_alarm": alarm}


log_pages = APIRouter(
    prefix="/audit",
    include_in_schema=False,
    dependencies=[Depends(require_roles(*AUDITORS)), Depends(_alarm_banner)],
)
stats_pages = APIRouter(
    prefix="/audit",
    include_in_schema=False,
    dependencies=[Depends(require_roles(*STATS_ROLES)), Depends(_alarm_banner)],
)


def _verifier(request: Request) -> list[Verifier] | None:
    try:
        return log_verifiers(settings_of(request).effective_keys_dir)
    except (OSError, ValueError, CryptoError):
        return None


@log_pages.get("", response_class=HTMLResponse)
def overview(request: Request, principal: Auditor, pages: PagesDep, db: Db) -> HTMLResponse:
    verifier = _verifier(request)
    with db.transaction() as session:
        if verifier is None:
            status = CheckpointStatus(False, "no_log_key", 0)
        else:
            status = checkpoint_status(session, verifier)
        record(
            session,
            actor=principal.staff_id,
            action="audit.read",
            details={"view": "overview", "verified": status.verified},
        )
    return pages.render(request, "audit/overview.html", {"status": status})


def _day(value: str | None, name: str, bad: dict[str, str]) -> date | None:
    if not value:
        return None
    try:
        return date.fromisoformat(value)
    except ValueError:
        bad[name] = "invalid"
        return None


def _filters(query: Mapping[str, str | None]) -> EntryFilters:
    bad: dict[str, str] = {}
    date_from = _day(query["date_from"], "date_from", bad)
    date_to = _day(query["date_to"], "date_to", bad)
    try:
        filters = EntryFilters(
            actor=query["actor"] or None,
            action=query["action"] or None,
            object_id=query["object_id"] or None,
            date_from=date_from,
            date_to=date_to,
        )
    except InvalidInput as exc:
        bad.update(exc.fields)
        filters = EntryFilters()
    if bad:
        raise InvalidInput("invalid filter: " + ", ".join(sorted(bad)), fields=bad)
    return filters


@log_pages.get("/entries", response_class=HTMLResponse)
def entries(
    request: Request,
    principal: Auditor,
    pages: PagesDep,
    db: Db,
    actor: Annotated[str | None, _Q] = None,
    action: Annotated[str | None, _Q] = None,
    object_id: Annotated[str | None, Query(alias="object", max_length=128)] = None,
    date_from: Annotated[str | None, Query(alias="from", max_length=10)] = None,
    date_to: Annotated[str | None, Query(alias="to", max_length=10)] = None,
    cursor: Annotated[int | None, Query(ge=0)] = None,
    limit: Annotated[int, Query(ge=1, le=MAX_LIMIT)] = 50,
) -> HTMLResponse:
    form = {
        "actor": actor,
        "action": action,
        "object_id": object_id,
        "date_from": date_from,
        "date_to": date_to,
    }
    try:
        filters = _filters(form)
    except InvalidInput as exc:
        context = {"form": form, "errors": exc.fields, "page": None, "next_url": None}
        return pages.render(request, "audit/entries.html", context, status_code=422)
    with db.transaction() as session:
        page = list_entries(session, filters=filters, cursor=cursor, limit=limit)
        record(
            session,
            actor=principal.staff_id,
            action="audit.read",
            details={
                "view": "entries",
                **filters.details(),
                "cursor": cursor,
                "limit": limit,
                "shown": len(page.entries),
            },
        )
    next_url = None
    if page.next_cursor is not None:
        params = {
            "actor": actor,
            "action": action,
            "object": object_id,
            "from": date_from,
            "to": date_to,
            "limit": limit,
            "cursor": page.next_cursor,
        }
        kept = {k: v for k, v in params.items() if v not in (None, "")}
        next_url = "/audit/entries?" + urlencode(kept)
    context = {"form": form, "errors": {}, "page": page, "next_url": next_url}
    return pages.render(request, "audit/entries.html", context)


@log_pages.get("/cases.csv")
def cases_csv(principal: Auditor, filters: CaseQuery, db: Db) -> StreamingResponse:
    """The content-free case list as CSV (the download link on the audit pages)."""
    return case_list_response(db, principal, filters, via="page")


def _week_points(series: Sequence[WeekCount]) -> list[Point]:
    return [Point(w.week, w.count, w.label, tick=w.week[-3:]) for w in series]


def _category_points(counts: Mapping[str, int], labels: Mapping[str, str]) -> list[Point]:
    return [Point(labels.get(name, name), n) for name, n in counts.items()]


@stats_pages.get("/stats", response_class=HTMLResponse)
def stats_page(
    request: Request,
    principal: StatsReader,
    pages: PagesDep,
    db: Db,
    weeks: Annotated[int, Query(ge=1, le=MAX_WEEKS)] = 26,
) -> HTMLResponse:
    context: dict[str, Any] = {
        "stats": read_stats(db, principal, weeks, via="page"),
        "bar_chart": bar_chart,
        "step_chart": step_chart,
        "week_points": _week_points,
        "category_points": _category_points,
    }
    return pages.render(request, "audit/stats.html", context)


router = APIRouter()
router.include_router(log_pages)
router.include_router(stats_pages)
