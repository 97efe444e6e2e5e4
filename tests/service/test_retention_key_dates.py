"""A bucket key made by intake (the worker had not made this month's yet) must not date the
month's first tip: its row keeps the day only, like every reporter time. Both backends."""

from __future__ import annotations

from datetime import time

from sqlalchemy import Engine, delete, select

from service.config import Settings
from service.retention.models import RetentionKey
from tests.factories import Border, in_tx, intake


def test_a_key_made_at_intake_is_dated_by_day_only(
    engine: Engine, settings: Settings, border: Border
) -> None:
    in_tx(engine, lambda s: s.execute(delete(RetentionKey)))  # nothing made ahead
    intake(engine, settings)
    made = in_tx(engine, lambda s: s.scalars(select(RetentionKey.created_at)).all())
    assert made
    assert all(at.time() == time(0, 0) for at in made), made
