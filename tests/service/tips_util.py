"""Filing tips through the real intake service, and reading back what tests need."""

from __future__ import annotations

import uuid
from datetime import UTC, date, datetime
from typing import Any

from sqlalchemy import Engine

from service.config import Settings
from service.db import make_session_factory, session_scope
from service.instance.context import load_context
from service.staff.models import Role
from service.staff.sessions import Principal
from service.tips.intake import begin_tip
from service.tips.models import Tip
from service.tips.schemas import TipSubmission
from tests.factories import StaffHandle, tip_json

__all__ = ["file_tip", "moment", "principal", "set_tip"]


def file_tip(
    engine: Engine, settings: Settings, *, received_on: date | None = None, **overrides: Any
) -> uuid.UUID:
    """A tip filed by the intake service (as the API does), received on `received_on`."""
    submission = TipSubmission.model_validate(tip_json(**overrides))
    with session_scope(make_session_factory(engine)) as session:
        ctx = load_context(session, settings)
        result = begin_tip(session, ctx, submission, today=received_on).finish()
    assert result.tip_id is not None
    return result.tip_id


def set_tip(engine: Engine, tip_id: uuid.UUID, **values: Any) -> None:
    """Change a tip through the ORM, the way workflow code does (the flush keeps the deadline)."""
    with session_scope(make_session_factory(engine)) as session:
        tip = session.get(Tip, tip_id)
        assert tip is not None
        for name, value in values.items():
            setattr(tip, name, value)


def principal(who: StaffHandle, role: Role = Role.REVIEWER) -> Principal:
    """The signed-in form of a test staff member (what a session yields)."""
    return Principal(
        staff_id=who.id, username=who.username, role=role, identity=who.identity,
        session_id=uuid.uuid4(),
    )  # fmt: skip


def moment(day: date) -> datetime:
    """Noon UTC on `day` (staff-caused times are exact)."""
    return datetime(day.year, day.month, day.day, 12, tzinfo=UTC)
