"""Helpers for the workflow and approvals tests: a seeded border instance with a second US
supervisor and a conflicted US reviewer, tips through the real intake, principals as a session
would build them."""

from __future__ import annotations

import uuid
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime
from typing import TypeVar

from sqlalchemy import Engine
from sqlalchemy.orm import Session

from service.audit.log import history
from service.config import Settings
from service.db import make_session_factory, session_scope, utcnow
from service.instance.context import load_context
from service.staff.models import Role
from service.staff.sessions import Principal
from service.tips.intake import submit_tip
from service.tips.schemas import TipSubmission
from tests.factories import Border, StaffHandle, add_conflict, add_staff, seed_border, tip_json

__all__ = ["Cast", "actions", "as_principal", "cast", "in_tx", "new_tip", "now"]

T = TypeVar("T")


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


def as_principal(who: StaffHandle, role: Role) -> Principal:
    return Principal(who.id, who.username, role, who.identity, uuid.uuid4())


def cast(engine: Engine, settings: Settings) -> Cast:
    border = seed_border(engine, settings)
    sue = add_staff(engine, settings, "sue", Role.SUPERVISOR, ["us"])
    carl = add_staff(engine, settings, "carl", Role.REVIEWER, ["us"])
    add_conflict(engine, settings, carl.id, "name", "Juan Ramírez")
    return Cast(
        border=border,
        ana=as_principal(border.reviewer_us, Role.REVIEWER),
        sam=as_principal(border.supervisor_us, Role.SUPERVISOR),
        sue=as_principal(sue, Role.SUPERVISOR),
        luis=as_principal(border.reviewer_mx, Role.REVIEWER),
        carl=as_principal(carl, Role.REVIEWER),
        sue_handle=sue,
        carl_handle=carl,
    )


def in_tx(engine: Engine, fn: Callable[..., T]) -> T:
    """Run `fn(session)` in one committed transaction (rolled back if it raises)."""
    with session_scope(make_session_factory(engine)) as session:
        return fn(session)


def new_tip(engine: Engine, settings: Settings, **overrides: object) -> tuple[uuid.UUID, str]:
    """(tip id, receipt) of a tip submitted through the real intake."""

    def submit(session: Session) -> tuple[uuid.UUID, str]:
        ctx = load_context(session, settings)
        result = submit_tip(session, ctx, TipSubmission.model_validate(tip_json(**overrides)))
        assert result.tip_id is not None
        return result.tip_id, result.receipt

    return in_tx(engine, submit)


def actions(engine: Engine, tip_id: uuid.UUID) -> list[str]:
    with make_session_factory(engine)() as session:
        return [entry.action for entry in history(session, tip_id)]


def now() -> datetime:
    return utcnow()
