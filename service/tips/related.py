"""Related tips: others naming the same officer, badge or unit (a shared subject blind index).

Both ends go through the readable statement: the tip asked about must be readable (404 otherwise)
and only tips the viewer may read are listed. A match says its kind, never the value.

Imports `service` only.
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from datetime import date

from sqlalchemy import and_
from sqlalchemy.orm import Session, aliased

from service.tips.models import SubjectIndex, Tip
from service.tips.repository import get_readable_tip, readable_tips

__all__ = ["RELATED_LIMIT", "RelatedTip", "related_tips", "related_to_readable"]

RELATED_LIMIT = 50
# Built once: a fresh alias per call costs milliseconds of SQLAlchemy bookkeeping.
_MINE = aliased(SubjectIndex, name="mine")
_OTHER = aliased(SubjectIndex, name="other")


@dataclass(frozen=True)
class RelatedTip:
    id: uuid.UUID
    short_id: str
    status: str
    received_on: date
    matches: tuple[str, ...]  # "badge", "name", "unit"


def related_tips(session: Session, staff_id: uuid.UUID, tip_id: uuid.UUID) -> list[RelatedTip]:
    """Tips readable by `staff_id` sharing a subject with `tip_id` (404 unless that is readable)."""
    get_readable_tip(session, staff_id, tip_id)
    return related_to_readable(session, staff_id, tip_id)


def related_to_readable(
    session: Session, staff_id: uuid.UUID, tip_id: uuid.UUID
) -> list[RelatedTip]:
    """`related_tips` for a caller that has already read `tip_id` through the readable statement."""
    mine, other = _MINE, _OTHER
    # Joins rather than IN (readable ids): the planner starts from this tip's few subject rows
    # instead of every tip the viewer may read.
    rows = session.execute(
        readable_tips(staff_id)
        .with_only_columns(Tip.id, Tip.status, Tip.received_on, other.kind)
        .join(other, other.tip_id == Tip.id)
        .join(mine, and_(mine.kind == other.kind, mine.value == other.value))
        .where(mine.tip_id == tip_id, Tip.id != tip_id)
        .order_by(Tip.received_on.desc(), Tip.id)
    )
    found: dict[uuid.UUID, tuple[str, date, set[str]]] = {}
    for row in rows:
        entry = found.setdefault(row.id, (row.status, row.received_on, set()))
        entry[2].add(row.kind)
    return [
        RelatedTip(
            id=tid,
            short_id=tid.hex[:8],
            status=status,
            received_on=received,
            matches=tuple(sorted(kinds)),
        )
        for tid, (status, received, kinds) in list(found.items())[:RELATED_LIMIT]
    ]
