"""The auditors' case list: one content-free row per tip, as CSV (docs/audit.md, "Case list").

Every value comes from a clear column: the tip's id, compartment name, agency slug, status,
closure reason, the days (never times) it was received, acknowledged and closed, its legal hold
and purged flags, and the allegation codes with their findings, which exist in clear only for
tips closed with findings (`tip_findings`; the report itself is never opened). Deadlines are
worked out per tip by the rules of service.tips.models (`deadlines_of`) as the statistics count
them. No staff name, nothing a reporter wrote, nothing finer than a day: tips received today
(UTC) are listed from tomorrow on, so a new row between two downloads cannot time a submission.

Rows are read by keyset pagination over the tip id (random UUIDv4, so a row's position says
nothing of when the tip arrived), a page at a time: a list of any length streams in constant
memory. Reading it is audited (`audit.cases_exported`, with the count) by `record_case_export`,
which callers commit before the first row leaves (as attachment downloads).

Imports SQLAlchemy and service models only.
"""

from __future__ import annotations

import csv
import io
import uuid
from collections import defaultdict
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass
from datetime import UTC, date, datetime, time, timedelta
from typing import Any

from sqlalchemy import func, select
from sqlalchemy.orm import Session
from sqlalchemy.sql.elements import ColumnElement

from service.agencies.models import Agency
from service.audit.log import record
from service.compartments.models import Compartment
from service.errors import InvalidInput
from service.tips.models import ACK_DAYS, FEEDBACK_MONTHS, Status, Tip, TipFinding, add_months

__all__ = [
    "COLUMNS",
    "CaseFilters",
    "CaseRow",
    "acknowledgement_state",
    "case_csv",
    "case_pages",
    "case_rows",
    "count_cases",
    "csv_cell",
    "feedback_state",
    "record_case_export",
]

COLUMNS = (
    "id",
    "compartment",
    "agency",
    "status",
    "closure_reason",
    "received_on",
    "acknowledged_on",
    "closed_on",
    "allegations",
    "findings",
    "acknowledgement_deadline",
    "feedback_deadline",
    "legal_hold",
    "purged",
)
PAGE = 500
MET, MISSED, PENDING = "met", "missed", "pending"
# What a spreadsheet would run as a formula (OWASP "CSV injection"): such a cell gets a quote.
_FORMULA_START = ("=", "+", "-", "@", "\t", "\r")


@dataclass(frozen=True, slots=True)
class CaseFilters:
    """Optional filters; every field is a scalar, so they go into the audit entry as they are.
    `closed_since`/`closed_until` are UTC days, inclusive, and keep closed tips only."""

    compartment: str | None = None  # a compartment's name
    closed_since: date | None = None
    closed_until: date | None = None

    def __post_init__(self) -> None:
        if self.closed_since and self.closed_until and self.closed_since > self.closed_until:
            raise InvalidInput(
                "closed_until is before closed_since", fields={"closed_until": "before_since"}
            )

    def details(self, compartment_id: uuid.UUID | None) -> dict[str, str | None]:
        # The compartment by id: a name may hold spaces, which entries refuse (canonical.py).
        return {
            "compartment": str(compartment_id) if compartment_id is not None else None,
            "closed_since": self.closed_since.isoformat() if self.closed_since else None,
            "closed_until": self.closed_until.isoformat() if self.closed_until else None,
        }


@dataclass(frozen=True, slots=True)
class CaseRow:
    id: uuid.UUID
    compartment: str
    agency: str | None  # slug; None: "other/unknown"
    status: str
    closure_reason: str | None
    received_on: date
    acknowledged_on: date | None
    closed_on: date | None
    findings: dict[str, str]  # allegation code -> finding (tips closed with findings only)
    acknowledgement_deadline: str  # met / missed / pending
    feedback_deadline: str
    legal_hold: bool
    purged: bool

    def cells(self) -> list[str]:
        return [
            str(self.id),
            self.compartment,
            self.agency or "",
            self.status,
            self.closure_reason or "",
            self.received_on.isoformat(),
            _iso(self.acknowledged_on),
            _iso(self.closed_on),
            ";".join(self.findings),
            ";".join(f"{code}:{finding}" for code, finding in self.findings.items()),
            self.acknowledgement_deadline,
            self.feedback_deadline,
            _flag(self.legal_hold),
            _flag(self.purged),
        ]


def _iso(day: date | None) -> str:
    return day.isoformat() if day is not None else ""


def _flag(value: bool) -> str:
    return "true" if value else "false"


def _utc_day(moment: datetime | None) -> date | None:
    return moment.astimezone(UTC).date() if moment is not None else None


def acknowledgement_state(
    received_on: date, acknowledged_on: date | None, closed: bool, today: date
) -> str:
    """Met when acknowledged within 7 days of receipt; missed when later, or never and it is
    past due (or the tip was closed unacknowledged); else pending."""
    due = received_on + timedelta(days=ACK_DAYS)
    if acknowledged_on is not None:
        return MET if acknowledged_on <= due else MISSED
    return MISSED if closed or today > due else PENDING


def feedback_state(
    acknowledged_on: date | None, closed_on: date | None, closed: bool, today: date
) -> str:
    """Due 3 calendar months after the acknowledgement, met by closing the tip (as the queue
    and the statistics count it); pending while open and not yet due, or not acknowledged yet."""
    if acknowledged_on is None:
        return MISSED if closed else PENDING
    due = add_months(acknowledged_on, FEEDBACK_MONTHS)
    if closed:
        return MET if closed_on is not None and closed_on <= due else MISSED
    return MISSED if today > due else PENDING


def _compartment_id(session: Session, name: str) -> uuid.UUID:
    found = session.scalar(select(Compartment.id).where(Compartment.name == name))
    if found is None:
        raise InvalidInput("no such compartment", fields={"compartment": "unknown"})
    return found


def _conditions(session: Session, filters: CaseFilters, today: date) -> list[ColumnElement[bool]]:
    # Tips received today are left out until the day is over: a row (or the count in
    # `audit.cases_exported`, timed to the second) appearing between two downloads would date
    # a reporter's submission finer than a day.
    out: list[ColumnElement[bool]] = [Tip.received_on < today]
    if filters.compartment is not None:
        out.append(Tip.compartment_id == _compartment_id(session, filters.compartment))
    if filters.closed_since is not None:
        out.append(Tip.closed_at >= datetime.combine(filters.closed_since, time(), UTC))
    if filters.closed_until is not None and filters.closed_until < date.max:  # no day after
        end = datetime.combine(filters.closed_until + timedelta(days=1), time(), UTC)
        out.append(Tip.closed_at < end)
    if filters.closed_since is not None or filters.closed_until is not None:
        out.append(Tip.status == Status.CLOSED.value)
    return out


def count_cases(session: Session, filters: CaseFilters, *, today: date) -> int:
    query = select(func.count()).select_from(Tip).where(*_conditions(session, filters, today))
    return int(session.scalar(query) or 0)


def record_case_export(
    session: Session, *, actor: str | uuid.UUID, filters: CaseFilters, via: str, today: date
) -> int:
    """Count the rows and append `audit.cases_exported` in the caller's transaction: commit it
    before the first row is sent. The count is the list's length at that moment."""
    count = count_cases(session, filters, today=today)
    compartment = (
        _compartment_id(session, filters.compartment) if filters.compartment is not None else None
    )
    record(
        session,
        actor=actor,
        action="audit.cases_exported",
        details={"via": via, "count": count, **filters.details(compartment)},
    )
    return count


def _page(
    session: Session, conditions: Sequence[ColumnElement[bool]], after: uuid.UUID | None
) -> list[Any]:
    """The next PAGE tips after `after` in id order, as named clear columns only: no blob
    reference, no recipient, no receipt lookup id."""
    query = (
        select(
            Tip.id,
            Compartment.name,
            Agency.slug,
            Tip.status,
            Tip.closure_reason,
            Tip.received_on,
            Tip.acknowledged_at,
            Tip.closed_at,
            Tip.legal_hold,
            Tip.purged,
        )
        .join(Compartment, Compartment.id == Tip.compartment_id)
        .outerjoin(Agency, Agency.id == Tip.agency_id)
        .where(*conditions)
    )
    if after is not None:
        query = query.where(Tip.id > after)
    return list(session.execute(query.order_by(Tip.id).limit(PAGE)))


def _findings(session: Session, ids: list[uuid.UUID]) -> dict[uuid.UUID, dict[str, str]]:
    rows = session.execute(
        select(TipFinding.tip_id, TipFinding.allegation, TipFinding.finding)
        .where(TipFinding.tip_id.in_(ids))
        .order_by(TipFinding.tip_id, TipFinding.allegation)
    )
    out: dict[uuid.UUID, dict[str, str]] = defaultdict(dict)
    for tip_id, allegation, finding in rows:
        out[tip_id][allegation] = finding
    return out


def _row(values: Any, findings: dict[str, str], today: date) -> CaseRow:
    closed = values.status == Status.CLOSED.value
    acknowledged_on, closed_on = _utc_day(values.acknowledged_at), _utc_day(values.closed_at)
    return CaseRow(
        id=values.id,
        compartment=values.name,
        agency=values.slug,
        status=values.status,
        closure_reason=values.closure_reason,
        received_on=values.received_on,
        acknowledged_on=acknowledged_on,
        closed_on=closed_on,
        findings=findings,
        acknowledgement_deadline=acknowledgement_state(
            values.received_on, acknowledged_on, closed, today
        ),
        feedback_deadline=feedback_state(acknowledged_on, closed_on, closed, today),
        legal_hold=bool(values.legal_hold),
        purged=bool(values.purged),
    )


def case_pages(session: Session, filters: CaseFilters, *, today: date) -> Iterator[list[CaseRow]]:
    """The list in pages of at most PAGE rows, in tip id order (keyset: one indexed range scan
    per page, whatever the list's length)."""
    conditions = _conditions(session, filters, today)
    after: uuid.UUID | None = None
    while True:
        rows = _page(session, conditions, after)
        if not rows:
            return
        findings = _findings(session, [r.id for r in rows])
        yield [_row(r, findings.get(r.id, {}), today) for r in rows]
        if len(rows) < PAGE:
            return
        after = rows[-1].id


def case_rows(session: Session, filters: CaseFilters, *, today: date) -> Iterator[CaseRow]:
    for page in case_pages(session, filters, today=today):
        yield from page


def csv_cell(value: str) -> str:
    """A cell a spreadsheet shows as text: one that would start a formula gets a leading '."""
    return "'" + value if value.startswith(_FORMULA_START) else value


def _csv_text(rows: Sequence[Sequence[str]]) -> str:
    buffer = io.StringIO()
    writer = csv.writer(buffer, lineterminator="\r\n")  # RFC 4180
    writer.writerows([[csv_cell(cell) for cell in row] for row in rows])
    return buffer.getvalue()


def case_csv(
    session: Session,
    filters: CaseFilters,
    *,
    today: date,
    progress: Callable[[int], None] | None = None,
) -> Iterator[bytes]:
    """The header line, then one UTF-8 chunk of CSV per page of rows; `progress` hears the
    number of rows written so far after each page."""
    yield _csv_text([COLUMNS]).encode()
    done = 0
    for page in case_pages(session, filters, today=today):
        yield _csv_text([row.cells() for row in page]).encode()
        done += len(page)
        if progress is not None:
            progress(done)
