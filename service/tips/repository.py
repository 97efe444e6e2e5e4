"""Every staff read of a tip starts here: the tips readable by a staff member are those whose
audience includes them (design section 3). A tip outside it is a 404, the same as a missing one."""

from __future__ import annotations

import uuid

from sqlalchemy import Select, select
from sqlalchemy.orm import Session

from service.errors import NotFound
from service.tips.models import Tip, TipAudience

__all__ = ["get_readable_tip", "readable_tips"]


def readable_tips(staff_id: uuid.UUID) -> Select[Tip]:
    """Tips whose audience includes `staff_id`; add filters and ordering to this statement."""
    return (
        select(Tip)
        .join(TipAudience, TipAudience.tip_id == Tip.id)
        .where(TipAudience.staff_id == staff_id)
    )


def get_readable_tip(session: Session, staff_id: uuid.UUID, tip_id: uuid.UUID) -> Tip:
    tip = session.scalar(readable_tips(staff_id).where(Tip.id == tip_id))
    if tip is None:
        raise NotFound("no such tip")
    return tip
