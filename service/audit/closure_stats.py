"""Closures and contested closures, per compartment and per closing reviewer (issue 10), counted
in SQL from clear columns only.

The closing reviewer of a tip is the requester of the approved closure request (every closure is
four-eyes, service.tips.workflow); a closed tip without one (closed before closures needed
approval, or whose requester's account was deleted) is counted under `None`. A closure is
contested when the reporter contested it (`tips.contested_on`, service.tips.contest).

Small cells are suppressed as in the weekly series (service.audit.suppression): a count of 1 or 2
is shown as "<3", and more cells are hidden until no hidden count can be worked out from the
others or from the totals.

Imports SQLAlchemy and service models only.
"""

from __future__ import annotations

from collections.abc import Hashable, Sequence
from dataclasses import dataclass
from typing import Any, TypeVar

from sqlalchemy import case, func, select
from sqlalchemy.orm import Session

from service.approvals.models import Approval, ApprovalKind, ApprovalStatus
from service.audit.suppression import K, _overall_week, _suppress, cell_label
from service.compartments.models import Compartment
from service.staff.models import StaffUser
from service.tips.models import Status, Tip

__all__ = ["ClosureCounts", "ClosureRow", "closure_counts", "closure_json"]

_CLOSURE_KINDS = (ApprovalKind.CLOSE_WITH_REASON.value, ApprovalKind.CLOSE_WITH_FINDINGS.value)
_G = TypeVar("_G", bound=Hashable)


@dataclass(frozen=True, slots=True)
class Cell:
    count: int | None  # None: hidden
    small: bool = False  # hidden because it is 1 or 2; otherwise hidden to protect one

    @property
    def label(self) -> str:
        return cell_label(self.count, self.small)


@dataclass(frozen=True, slots=True)
class ClosureRow:
    name: str | None  # compartment name or reviewer username (None: unknown)
    closures: Cell
    contested: Cell


@dataclass(frozen=True, slots=True)
class ClosureCounts:
    by_compartment: list[ClosureRow]
    by_reviewer: list[ClosureRow]
    total: ClosureRow  # all compartments; hidden below K or when it would give a cell away


_CONTESTED = func.sum(case((Tip.contested_on.is_not(None), 1), else_=0))


def _by_compartment(session: Session) -> dict[str, list[int]]:
    rows = session.execute(
        select(Compartment.name, func.count(Tip.id), _CONTESTED)
        .outerjoin(Tip, (Tip.compartment_id == Compartment.id) & (Tip.status == Status.CLOSED))
        .group_by(Compartment.name)
        .order_by(Compartment.name)
    )
    return {name: [int(closed), int(contested or 0)] for name, closed, contested in rows}


def _by_reviewer(session: Session) -> dict[str | None, list[int]]:
    closer = (
        select(Approval.tip_id, StaffUser.username)
        .outerjoin(StaffUser, StaffUser.id == Approval.requested_by)
        .where(Approval.kind.in_(_CLOSURE_KINDS), Approval.status == ApprovalStatus.APPROVED)
        .subquery()
    )
    rows = session.execute(
        select(closer.c.username, func.count(Tip.id), _CONTESTED)
        .select_from(Tip)
        .outerjoin(closer, closer.c.tip_id == Tip.id)
        .where(Tip.status == Status.CLOSED)
        .group_by(closer.c.username)
    )
    out = {name: [int(closed), int(contested or 0)] for name, closed, contested in rows}
    return dict(sorted(out.items(), key=lambda item: (item[0] is None, item[0] or "")))


def _rows(grid: dict[_G, list[int]], names: Sequence[str | None]) -> list[ClosureRow]:
    hidden = _suppress(grid)
    return [
        ClosureRow(name, Cell(*hidden[key][0]), Cell(*hidden[key][1]))
        for key, name in zip(grid, names, strict=True)
    ]


def _total(
    grid: dict[str, list[int]], suppressed: dict[str, list[tuple[int | None, bool]]], column: int
) -> Cell:
    # Hidden when it would give a lone hidden cell away, and - stricter than the weekly totals,
    # as a contested closure is a reporter's act - when it is itself below K.
    count = _overall_week(grid, suppressed, column)
    if count is not None and 0 < count < K:
        return Cell(None, small=True)
    return Cell(count)


def closure_counts(session: Session) -> ClosureCounts:
    compartments = _by_compartment(session)
    reviewers = _by_reviewer(session)
    suppressed = _suppress(compartments)
    total = ClosureRow(None, *(_total(compartments, suppressed, column) for column in (0, 1)))
    return ClosureCounts(
        by_compartment=_rows(compartments, list(compartments)),
        by_reviewer=_rows(reviewers, list(reviewers)),
        total=total,
    )


def _cell_json(cell: Cell) -> dict[str, Any]:
    return {"count": cell.count, "label": cell.label}


def _row_json(row: ClosureRow, key: str) -> dict[str, Any]:
    return {
        key: row.name,
        "closures": _cell_json(row.closures),
        "contested": _cell_json(row.contested),
    }


def closure_json(counts: ClosureCounts) -> dict[str, Any]:
    """Plain JSON; a hidden count is null with its label ("<3" or "*")."""
    return {
        "total": {
            "closures": _cell_json(counts.total.closures),
            "contested": _cell_json(counts.total.contested),
        },
        "by_compartment": [_row_json(r, "compartment") for r in counts.by_compartment],
        "by_reviewer": [_row_json(r, "reviewer") for r in counts.by_reviewer],
    }
