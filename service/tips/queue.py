"""The triage queue: the tips a staff member may read, most pressing first, a page at a time.

Order: urgent first, then priority (high first), then the nearest open deadline, then id (a
total order). The deadline is stored on the tip (`Tip.next_deadline`, date.max once none is open)
so the whole order is one index, `ix_tips_queue`, and a page is an index seek whatever its depth:
keyset pagination in at most four range scans (same urgent/priority/deadline and a later id; same
urgent/priority and a later deadline; same urgent and a lower priority; not urgent). The opaque
cursor is the base64 of the last row's sort key.

The deadline rule, the index and the hooks that keep the column right on every write path live
with the table, in service.tips.models.

Imports `service` only.
"""

from __future__ import annotations

import base64
import binascii
import re
import uuid
from dataclasses import dataclass
from datetime import date
from typing import Any

from sqlalchemy import ColumnElement, Select, and_, true
from sqlalchemy.orm import Session, aliased

from service.compartments.models import Compartment
from service.errors import InvalidInput, Malformed
from service.staff.models import StaffUser
from service.tips.models import Status, Tip, deadlines_of
from service.tips.repository import readable_tips

__all__ = [
    "MAX_LIMIT",
    "QueueFilters",
    "QueuePage",
    "QueueRow",
    "decode_cursor",
    "encode_cursor",
    "queue_page",
]

MAX_LIMIT = 100


@dataclass(frozen=True)
class QueueFilters:
    status: str | None = None
    compartment: str | None = None  # by name
    urgent: bool | None = None
    overdue: bool | None = None
    assignee: str | None = None  # a staff id, "me" or "none"

    def __post_init__(self) -> None:
        if self.status is not None and self.status not in {s.value for s in Status}:
            raise InvalidInput("status: unknown status", fields={"status": "unknown"})
        if self.assignee not in (None, "me", "none"):
            try:
                uuid.UUID(self.assignee)
            except ValueError:
                raise InvalidInput(
                    "assignee: a staff id, 'me' or 'none'", fields={"assignee": "invalid"}
                ) from None


@dataclass(frozen=True)
class QueueRow:
    """What the queue shows of a tip: flags and dates, never content."""

    id: uuid.UUID
    short_id: str
    status: str
    urgent: bool
    priority: int
    compartment: str
    received_on: date
    ack_due: date | None  # None once acknowledged
    feedback_due: date | None  # None until acknowledged and after closure
    ack_overdue: bool
    feedback_overdue: bool
    assignee: str | None  # username

    @property
    def overdue(self) -> bool:
        return self.ack_overdue or self.feedback_overdue


@dataclass(frozen=True)
class QueuePage:
    rows: list[QueueRow]
    next_cursor: str | None


SortKey = tuple[bool, int, date, uuid.UUID]
_CURSOR = re.compile(r"([01]):(-?\d{1,9}):(\d{4}-\d{2}-\d{2}):([0-9a-f]{32})")


def encode_cursor(key: SortKey) -> str:
    urgent, priority, deadline, tip_id = key
    raw = f"{int(urgent)}:{priority}:{deadline.isoformat()}:{tip_id.hex}"
    return base64.urlsafe_b64encode(raw.encode()).decode().rstrip("=")


def decode_cursor(cursor: str) -> SortKey:
    """The sort key in a cursor; Malformed (400) for anything we did not issue."""
    try:
        raw = base64.urlsafe_b64decode(cursor + "=" * (-len(cursor) % 4)).decode("ascii")
        match = _CURSOR.fullmatch(raw)
        if len(cursor) > 100 or match is None:
            raise ValueError
        return (
            match[1] == "1",
            int(match[2]),
            date.fromisoformat(match[3]),
            uuid.UUID(hex=match[4]),
        )
    except (ValueError, binascii.Error, UnicodeDecodeError):
        raise Malformed("cursor: not a queue cursor") from None


_ASSIGNEE = aliased(StaffUser, name="assignee")  # built once: aliasing per call is slow


def _filtered(staff_id: uuid.UUID, filters: QueueFilters, today: date) -> Select[*tuple[Any, ...]]:
    query = (
        readable_tips(staff_id)
        .with_only_columns(
            Tip.id,
            Tip.status,
            Tip.urgent,
            Tip.priority,
            Tip.received_on,
            Tip.acknowledged_at,
            Tip.next_deadline,
            Compartment.name,
            _ASSIGNEE.username,
        )
        .join(Compartment, Compartment.id == Tip.compartment_id)
        .outerjoin(_ASSIGNEE, _ASSIGNEE.id == Tip.assignee_id)
    )
    if filters.status is not None:
        query = query.where(Tip.status == filters.status)
    if filters.compartment is not None:
        query = query.where(Compartment.name == filters.compartment)
    if filters.urgent is not None:
        query = query.where(Tip.urgent == filters.urgent)
    if filters.overdue is not None:
        late = Tip.next_deadline < today
        query = query.where(late if filters.overdue else ~late)
    if filters.assignee == "none":
        query = query.where(Tip.assignee_id.is_(None))
    elif filters.assignee is not None:
        who = staff_id if filters.assignee == "me" else uuid.UUID(filters.assignee)
        query = query.where(Tip.assignee_id == who)
    return query


_ORDER = (Tip.urgent.desc(), Tip.priority.desc(), Tip.next_deadline, Tip.id)


def _after(key: SortKey | None) -> list[ColumnElement[bool]]:
    """The keyset as disjoint ranges, in queue order; each is a seek on ix_tips_queue."""
    if key is None:
        return [true()]
    urgent, priority, deadline, tip_id = key
    same = [Tip.urgent == urgent, Tip.priority == priority]
    ranges = [
        and_(*same, Tip.next_deadline == deadline, Tip.id > tip_id),
        and_(*same, Tip.next_deadline > deadline),
        and_(Tip.urgent == urgent, Tip.priority < priority),
    ]
    if urgent:
        ranges.append(Tip.urgent == False)  # noqa: E712 (SQL, not Python)
    return ranges


def _row(values: Any, today: date) -> QueueRow:
    closed = values.status == Status.CLOSED
    ack_due, feedback_due = deadlines_of(values.received_on, values.acknowledged_at)
    unacknowledged = values.acknowledged_at is None
    return QueueRow(
        id=values.id,
        short_id=values.id.hex[:8],
        status=values.status,
        urgent=values.urgent,
        priority=values.priority,
        compartment=values.name,
        received_on=values.received_on,
        ack_due=ack_due if unacknowledged else None,
        feedback_due=None if closed else feedback_due,
        ack_overdue=unacknowledged and not closed and today > ack_due,
        feedback_overdue=(not closed and feedback_due is not None and today > feedback_due),
        assignee=values.username,
    )


def queue_page(
    session: Session,
    principal_staff_id: uuid.UUID,
    *,
    filters: QueueFilters,
    cursor: str | None,
    limit: int,
    today: date,
) -> QueuePage:
    """One page of the queue of tips readable by `principal_staff_id`."""
    if not 1 <= limit <= MAX_LIMIT:
        raise InvalidInput(f"limit: 1 to {MAX_LIMIT}", fields={"limit": "range"})
    key = decode_cursor(cursor) if cursor else None
    base = _filtered(principal_staff_id, filters, today)
    found: list[Any] = []
    for condition in _after(key):
        wanted = limit + 1 - len(found)
        if wanted <= 0:
            break
        found += session.execute(base.where(condition).order_by(*_ORDER).limit(wanted)).all()
    rows = [_row(values, today) for values in found[:limit]]
    next_cursor = None
    if len(found) > limit:
        last = found[limit - 1]
        next_cursor = encode_cursor((last.urgent, last.priority, last.next_deadline, last.id))
    return QueuePage(rows=rows, next_cursor=next_cursor)
