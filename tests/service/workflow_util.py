"""Helpers for the workflow and approvals tests: a seeded border instance with a second US
supervisor and a conflicted US reviewer, tips through the real intake, principals as a session
would build them."""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import Engine

from service.audit.log import history
from service.config import Settings
from service.db import make_session_factory, utcnow
from service.staff.models import Role
from service.staff.sessions import Principal
from tests.factories import Border, StaffHandle, add_conflict, add_staff, principal, seed_border

__all__ = ["Cast", "actions", "cast", "now"]


@dataclass(frozen=True)
class Cast:
    border: Border
    ana: Principal  # reviewer, us
    sam: Principal  # supervisor, us
    sue: Principal  # supervisor, us
    luis: Principal  # reviewer, mx (outside US tips' audience)
    carl: Principal  # reviewer, us, conflicted with the usual subject
    sue_handle: StaffHandle
    carl_handle: StaffHandle


def cast(engine: Engine, settings: Settings) -> Cast:
    border = seed_border(engine, settings)
    sue = add_staff(engine, settings, "sue", Role.SUPERVISOR, ["us"])
    carl = add_staff(engine, settings, "carl", Role.REVIEWER, ["us"])
    add_conflict(engine, settings, carl.id, "name", "Juan Ramírez")
    return Cast(
        border=border,
        ana=principal(border.reviewer_us, Role.REVIEWER),
        sam=principal(border.supervisor_us, Role.SUPERVISOR),
        sue=principal(sue, Role.SUPERVISOR),
        luis=principal(border.reviewer_mx, Role.REVIEWER),
        carl=principal(carl, Role.REVIEWER),
        sue_handle=sue,
        carl_handle=carl,
    )


def actions(engine: Engine, tip_id: uuid.UUID) -> list[str]:
    with make_session_factory(engine)() as session:
        return [entry.action for entry in history(session, tip_id)]


def now() -> datetime:
    return utcnow()
