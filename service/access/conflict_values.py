"""The conflicts register's values: checked, and stored as blind indexes (the whole value and
one index per token, crypto.blind). Which tips a conflict matches: service.tips.subjects.

A conflict on a name or unit needs a token of two or more letters: "3", "No. 03" or "A" alone
would match every unit numbered 3 or lettered A, and is refused (422, `too_broad`); "Unit 3"
is fine. A badge number alone is the usual badge conflict and is accepted.
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass

from sqlalchemy import select
from sqlalchemy.orm import Session

from crypto.blind import subject_indexes, tokens
from crypto.errors import FormatError
from service.errors import InvalidInput
from service.staff.models import ConflictToken, StaffConflict
from service.tips.subjects import SUBJECT_KINDS

__all__ = [
    "CONFLICT_KINDS",
    "MAX_CONFLICT_VALUE",
    "ConflictValue",
    "conflict_value",
    "store_conflict",
]

CONFLICT_KINDS = SUBJECT_KINDS
MAX_CONFLICT_VALUE = 200


@dataclass(frozen=True)
class ConflictValue:
    kind: str
    whole: bytes  # StaffConflict.value
    tokens: tuple[bytes, ...]


def _too_broad(kind: str, value: str) -> bool:
    words = tokens(kind, value)
    if kind == "badge":
        return not words
    return not any(len(w) > 1 and not w.isdecimal() for w in words)


def conflict_value(kind: str, value: str, index_key: bytes) -> ConflictValue:
    """The indexes of a conflict; InvalidInput for a bad kind, or a blank, long or broad value."""
    if kind not in CONFLICT_KINDS:
        raise InvalidInput("kind must be name, badge or unit", fields={"kind": "invalid"})
    if len(value) > MAX_CONFLICT_VALUE:
        raise InvalidInput("the value is too long", fields={"value": "too_long"})
    try:
        found = subject_indexes(index_key, kind, value)
    except FormatError:
        raise InvalidInput("the value is empty", fields={"value": "required"}) from None
    if _too_broad(kind, value):
        raise InvalidInput(
            "the value is too broad: add a word of two or more letters (say 'Unit 3')",
            fields={"value": "too_broad"},
        )
    return ConflictValue(kind=kind, whole=found.whole, tokens=found.tokens)


def store_conflict(session: Session, staff_id: uuid.UUID, conflict: ConflictValue) -> None:
    """Add the conflict unless present; a conflict stored before token sets gets its tokens."""
    kind, whole = conflict.kind, conflict.whole
    if session.get(StaffConflict, (staff_id, kind, whole)) is None:
        session.add(StaffConflict(staff_id=staff_id, kind=kind, value=whole))
        session.flush()
    has_tokens = select(ConflictToken.token).where(
        ConflictToken.staff_id == staff_id,
        ConflictToken.kind == kind,
        ConflictToken.conflict == whole,
    )
    if conflict.tokens and session.scalar(has_tokens.limit(1)) is None:
        session.add_all(
            ConflictToken(
                staff_id=staff_id, kind=kind, conflict=whole, token=t, size=len(conflict.tokens)
            )
            for t in conflict.tokens
        )
        session.flush()
