"""Content-free statistics for auditors and supervisors, computed in SQL from clear columns only.

Nothing here decrypts or returns a row per tip: every query groups by compartment (and week, day
count or category) and counts. Percentiles come from the grouped day-count histogram, so they are
exact without any per-tip value leaving the database.

Definitions (docs/audit.md, "Auditor's view and statistics"):
- tips counted: those received before today (UTC), in every figure; a count that grew during the
  day would let someone polling the figures time a submission;
- week: ISO week (Monday start) of `received_on`, for the `weeks` weeks ending with today's week;
- time to acknowledge: UTC date of `acknowledged_at` minus `received_on`, in days; the median is
  the middle value (mean of the two middle ones for an even count), p90 the nearest-rank value;
- acknowledgement deadline: on time when acknowledged within 7 days of receipt; late after that;
  open-overdue when a tip that is not closed is still unacknowledged more than 7 days after receipt;
- feedback deadline: met by closing the tip (as the queue's overdue flag, service.tips.queue) on
  or before the acknowledgement date plus 3 calendar months (clamped to the month's end); late
  when closed after that; open-overdue when still open after that;
- closures and contested closures per compartment and per closing reviewer: see
  service.audit.closure_stats;
- small cells: in per-compartment weekly series a count of 1 or 2 (below K) is shown as "<3", and
  a second cell is hidden so that no hidden count is alone in its week or its compartment (it could
  otherwise be worked out from the totals).

Imports SQLAlchemy and service models only.
"""

from __future__ import annotations

import uuid
from collections import Counter, defaultdict
from collections.abc import Iterable, Mapping
from dataclasses import asdict, dataclass, field
from datetime import date, timedelta
from typing import Any

from sqlalchemy import and_, case, func, select
from sqlalchemy.orm import Session
from sqlalchemy.sql.elements import ColumnElement

from service.audit.closure_stats import ClosureCounts, closure_counts, closure_json
from service.audit.sql_dates import _day, _day_diff, _utc_date, _within_months
from service.audit.suppression import K, _overall_week, _suppress, cell_label
from service.compartments.models import Compartment
from service.tips.models import (
    ACK_DAYS,
    FEEDBACK_MONTHS,
    ClosureReason,
    Finding,
    Status,
    Tip,
    TipFinding,
)

__all__ = [
    "AckTimes",
    "CompartmentStats",
    "Deadline",
    "Figures",
    "K",
    "Stats",
    "WeekCount",
    "as_json",
    "stats",
]

OPEN_STATUSES = tuple(s.value for s in Status if s is not Status.CLOSED)


@dataclass(frozen=True, slots=True)
class WeekCount:
    week: str  # ISO week, "2026-W48"
    start: date  # its Monday
    count: int | None  # None: hidden (small-cell suppression)
    small: bool = False  # hidden because it is 1 or 2 ("<3"); otherwise hidden to protect one

    @property
    def label(self) -> str:
        return cell_label(self.count, self.small)


@dataclass(frozen=True, slots=True)
class AckTimes:
    count: int
    median: float | None
    p90: int | None


@dataclass(frozen=True, slots=True)
class Deadline:
    on_time: int = 0
    late: int = 0
    open_overdue: int = 0
    open_in_time: int = 0  # not yet given, not yet due


@dataclass(frozen=True, slots=True)
class Figures:
    """Every figure for one scope: the whole instance or one compartment."""

    tips: int
    ack_times: AckTimes
    acknowledgement: Deadline
    feedback: Deadline
    closures_by_reason: dict[str, int]
    findings: dict[str, int]
    open_by_status: dict[str, int]


@dataclass(frozen=True, slots=True)
class CompartmentStats:
    id: uuid.UUID
    name: str
    figures: Figures
    weekly: list[WeekCount]


@dataclass(frozen=True, slots=True)
class Stats:
    today: date
    weeks: int
    k: int
    overall: Figures
    weekly: list[WeekCount]  # all compartments together, not suppressed
    compartments: list[CompartmentStats] = field(default_factory=list)
    # Closures and contested closures per compartment and closing reviewer (suppressed cells).
    closures: ClosureCounts | None = None


# ---- Queries (each groups by compartment; None = all compartments after summing) ----

_Key = uuid.UUID


def _settled(today: date) -> ColumnElement[bool]:
    """Tips received before today only: a count that grows during the day would tell an auditor
    polling the figures when a reporter submitted (the log itself dates them by day only)."""
    return Tip.received_on < _day(today)


def _tip_counts(session: Session, today: date) -> dict[_Key, int]:
    rows = session.execute(
        select(Tip.compartment_id, func.count()).where(_settled(today)).group_by(Tip.compartment_id)
    )
    return {cid: n for cid, n in rows}


def _ack_histograms(session: Session) -> dict[_Key, Counter[int]]:
    days = _day_diff(_utc_date(Tip.acknowledged_at), Tip.received_on).label("days")
    rows = session.execute(
        select(Tip.compartment_id, days, func.count())
        .where(Tip.acknowledged_at.is_not(None))
        .group_by(Tip.compartment_id, days)
    )
    out: dict[_Key, Counter[int]] = defaultdict(Counter)
    for cid, d, n in rows:
        out[cid][int(d)] += n
    return out


def _grouped(
    session: Session, category: ColumnElement[str], today: date
) -> dict[_Key, Counter[str]]:
    label = category.label("category")
    rows = session.execute(
        select(Tip.compartment_id, label, func.count())
        .where(_settled(today))
        .group_by(Tip.compartment_id, label)
    )
    out: dict[_Key, Counter[str]] = defaultdict(Counter)
    for cid, cat, n in rows:
        if cat is not None:
            out[cid][cat] += n
    return out


def _ack_deadline(session: Session, today: date) -> dict[_Key, Counter[str]]:
    waited = _day_diff(_utc_date(Tip.acknowledged_at), Tip.received_on)
    category = case(
        (and_(Tip.acknowledged_at.is_not(None), waited <= ACK_DAYS), "on_time"),
        (Tip.acknowledged_at.is_not(None), "late"),
        (Tip.status == Status.CLOSED.value, None),
        (_day_diff(_day(today), Tip.received_on) > ACK_DAYS, "open_overdue"),
        else_="open_in_time",
    )
    return _grouped(session, category, today)


def _feedback_deadline(session: Session, today: date) -> dict[_Key, Counter[str]]:
    closed_on = _utc_date(Tip.closed_at)
    acked_on = _utc_date(Tip.acknowledged_at)
    still_open = case(
        (_within_months(_day(today), acked_on, FEEDBACK_MONTHS), "open_in_time"),
        else_="open_overdue",
    )
    category = case(
        (Tip.acknowledged_at.is_(None), None),
        (Tip.status != Status.CLOSED.value, still_open),
        (closed_on.is_(None), None),
        (_within_months(closed_on, acked_on, FEEDBACK_MONTHS), "on_time"),
        else_="late",
    )
    return _grouped(session, category, today)


def _closures(session: Session) -> dict[_Key, Counter[str]]:
    rows = session.execute(
        select(Tip.compartment_id, Tip.closure_reason, func.count())
        .where(Tip.status == Status.CLOSED.value)
        .group_by(Tip.compartment_id, Tip.closure_reason)
    )
    out: dict[_Key, Counter[str]] = defaultdict(Counter)
    for cid, reason, n in rows:
        out[cid][reason or "unknown"] += n
    return out


def _findings(session: Session) -> dict[_Key, Counter[str]]:
    rows = session.execute(
        select(Tip.compartment_id, TipFinding.finding, func.count())
        .join(Tip, Tip.id == TipFinding.tip_id)
        .group_by(Tip.compartment_id, TipFinding.finding)
    )
    out: dict[_Key, Counter[str]] = defaultdict(Counter)
    for cid, finding, n in rows:
        out[cid][finding] += n
    return out


def _open_by_status(session: Session, today: date) -> dict[_Key, Counter[str]]:
    rows = session.execute(
        select(Tip.compartment_id, Tip.status, func.count())
        .where(Tip.status.in_(OPEN_STATUSES), _settled(today))
        .group_by(Tip.compartment_id, Tip.status)
    )
    out: dict[_Key, Counter[str]] = defaultdict(Counter)
    for cid, status, n in rows:
        out[cid][status] += n
    return out


def _weekly(session: Session, start: date, today: date) -> dict[_Key, Counter[int]]:
    week = (_day_diff(Tip.received_on, _day(start)) // 7).label("week")
    rows = session.execute(
        select(Tip.compartment_id, week, func.count())
        .where(Tip.received_on >= _day(start), _settled(today))
        .group_by(Tip.compartment_id, week)
    )
    out: dict[_Key, Counter[int]] = defaultdict(Counter)
    for cid, w, n in rows:
        out[cid][int(w)] += n
    return out


# ---- Assembling ----


def _percentiles(histogram: Counter[int]) -> AckTimes:
    n = sum(histogram.values())
    if n == 0:
        return AckTimes(count=0, median=None, p90=None)
    ordered = sorted(histogram.items())

    def nth(rank: int) -> int:  # 1-based rank in the sorted values
        seen = 0
        for value, count in ordered:
            seen += count
            if seen >= rank:
                return value
        raise AssertionError("rank beyond the histogram")  # pragma: no cover

    median = (nth((n + 1) // 2) + nth(n // 2 + 1)) / 2
    return AckTimes(count=n, median=median, p90=nth(-(-9 * n // 10)))


def _deadline(counts: Mapping[str, int]) -> Deadline:
    return Deadline(
        on_time=counts.get("on_time", 0),
        late=counts.get("late", 0),
        open_overdue=counts.get("open_overdue", 0),
        open_in_time=counts.get("open_in_time", 0),
    )


def _ordered(counts: Mapping[str, int], known: Iterable[str]) -> dict[str, int]:
    """Every known category (zeros included) in a fixed order, then any others."""
    out = {name: counts.get(name, 0) for name in known}
    out.update({name: n for name, n in sorted(counts.items()) if name not in out})
    return out


@dataclass
class _Tables:
    tips: dict[_Key, int]
    ack: dict[_Key, Counter[int]]
    ack_deadline: dict[_Key, Counter[str]]
    feedback: dict[_Key, Counter[str]]
    closures: dict[_Key, Counter[str]]
    findings: dict[_Key, Counter[str]]
    open: dict[_Key, Counter[str]]


def _figures(t: _Tables, keys: Iterable[_Key]) -> Figures:
    keys = list(keys)

    def total(table: Mapping[_Key, Counter[Any]]) -> Counter[Any]:
        out: Counter[Any] = Counter()
        for key in keys:
            out.update(table.get(key, Counter()))
        return out

    return Figures(
        tips=sum(t.tips.get(key, 0) for key in keys),
        ack_times=_percentiles(total(t.ack)),
        acknowledgement=_deadline(total(t.ack_deadline)),
        feedback=_deadline(total(t.feedback)),
        closures_by_reason=_ordered(total(t.closures), (r.value for r in ClosureReason)),
        findings=_ordered(total(t.findings), (f.value for f in Finding)),
        open_by_status=_ordered(total(t.open), OPEN_STATUSES),
    )


def _week_labels(start: date, weeks: int) -> list[tuple[str, date]]:
    out = []
    for w in range(weeks):
        monday = start + timedelta(days=7 * w)
        year, number, _ = monday.isocalendar()
        out.append((f"{year}-W{number:02d}", monday))
    return out


def stats(session: Session, *, today: date, weeks: int = 26) -> Stats:
    """Every figure, overall and per compartment, as of `today` (UTC)."""
    if not 1 <= weeks <= 260:
        raise ValueError("weeks must be between 1 and 260")
    start = today - timedelta(days=today.weekday() + 7 * (weeks - 1))
    tables = _Tables(
        tips=_tip_counts(session, today),
        ack=_ack_histograms(session),
        ack_deadline=_ack_deadline(session, today),
        feedback=_feedback_deadline(session, today),
        closures=_closures(session),
        findings=_findings(session),
        open=_open_by_status(session, today),
    )
    compartments = list(
        session.execute(select(Compartment.id, Compartment.name).order_by(Compartment.name))
    )
    labels = _week_labels(start, weeks)
    weekly = _weekly(session, start, today)
    grid = {cid: [weekly.get(cid, Counter())[w] for w in range(weeks)] for cid, _ in compartments}
    suppressed = _suppress(grid)
    overall_weekly = [
        WeekCount(week, monday, _overall_week(grid, suppressed, w))
        for w, (week, monday) in enumerate(labels)
    ]
    return Stats(
        today=today,
        weeks=weeks,
        k=K,
        overall=_figures(tables, [cid for cid, _ in compartments]),
        weekly=overall_weekly,
        compartments=[
            CompartmentStats(
                id=cid,
                name=name,
                figures=_figures(tables, [cid]),
                weekly=[
                    WeekCount(week, monday, count, small)
                    for (week, monday), (count, small) in zip(labels, suppressed[cid], strict=True)
                ],
            )
            for cid, name in compartments
        ],
        closures=closure_counts(session),
    )


def _plain(value: Any) -> Any:
    if isinstance(value, date):
        return value.isoformat()
    if isinstance(value, uuid.UUID):
        return str(value)
    if isinstance(value, dict):
        return {k: _plain(v) for k, v in value.items()}
    if isinstance(value, list):
        return [_plain(v) for v in value]
    return value


def as_json(result: Stats) -> dict[str, Any]:
    """Plain JSON types; hidden weekly counts are null with their label ("<3" or "*")."""
    body: dict[str, Any] = _plain(asdict(result))
    body["weekly"] = [_week_json(w) for w in result.weekly]
    for out, compartment in zip(body["compartments"], result.compartments, strict=True):
        out["weekly"] = [_week_json(w) for w in compartment.weekly]
    if result.closures is not None:
        body["closures"] = closure_json(result.closures)
    return body


def _week_json(week: WeekCount) -> dict[str, Any]:
    return {
        "week": week.week,
        "start": week.start.isoformat(),
        "count": week.count,
        "label": week.label,
    }
