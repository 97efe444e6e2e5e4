"""One audit entry for what a signed-in staff member did to a tip (the actor is the principal)."""

from __future__ import annotations

import uuid
from collections.abc import Mapping
from typing import TYPE_CHECKING

from sqlalchemy.orm import Session

from service.audit.log import record

if TYPE_CHECKING:  # a type only: service.staff.sessions itself records to the log
    from service.staff.sessions import Principal

__all__ = ["record_as"]


def record_as(
    session: Session,
    principal: Principal,
    action: str,
    tip_id: uuid.UUID,
    *,
    objects: Mapping[str, uuid.UUID | str] | None = None,
    details: Mapping[str, str | int | bool | None] | None = None,
) -> int:
    """`record` with the principal as actor; returns the entry's index."""
    return record(
        session,
        actor=principal.staff_id,
        action=action,
        tip_id=tip_id,
        objects=objects,
        details=details,
    )
