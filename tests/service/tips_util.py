"""Queue and view tests: changing a tip as workflow code does, and staff-caused times."""

from __future__ import annotations

import uuid
from datetime import UTC, date, datetime
from typing import Any

from sqlalchemy import Engine

from service.db import make_session_factory, session_scope
from service.tips.models import Tip

__all__ = ["moment", "set_tip"]


def set_tip(engine: Engine, tip_id: uuid.UUID, **values: Any) -> None:
    """Change a tip through the ORM, the way workflow code does (the flush keeps the deadline)."""
    with session_scope(make_session_factory(engine)) as session:
        tip = session.get(Tip, tip_id)
        assert tip is not None
        for name, value in values.items():
            setattr(tip, name, value)


def moment(day: date) -> datetime:
    """Noon UTC on `day` (staff-caused times are exact)."""
    return datetime(day.year, day.month, day.day, 12, tzinfo=UTC)
