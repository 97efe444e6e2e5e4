"""Which tips name a subject, and which staff a tip's subjects conflict with: the one matching
rule for intake's audience, access changes, the conflicts register and related tips.

A conflict (kind, value) matches a tip when
- the tip has the conflict's whole-value index among its subject indexes (the rule before token
  sets; the only one for tips and conflicts stored before them), or
- every token index of the conflict is among the tip's token indexes of that kind.
Token indexes are kept per tip and kind, over all its subjects (not per subject): a conflict on
"Juan Pérez" also matches a tip naming "Juan Soto" and "Luis Pérez". That errs towards leaving
a member out, never towards letting one in, and keeps every check one indexed SQL statement.

Related tips share an index: the value as written, or the sorted token set (crypto.blind), so
spelling variants link while a subject that merely contains another does not.

Imports `service` and `crypto` only.
"""

from __future__ import annotations

import uuid
from collections.abc import Iterable
from dataclasses import dataclass, field

from sqlalchemy import CompoundSelect, Select, bindparam, func, literal, select, tuple_, union
from sqlalchemy.orm import Session

from crypto.blind import subject_indexes
from crypto.errors import FormatError
from service.staff.models import ConflictToken, StaffConflict
from service.tips.models import SubjectIndex, SubjectToken

__all__ = [
    "CONFLICTED_STAFF",
    "SUBJECT_KINDS",
    "SubjectKeys",
    "conflicted_tips",
    "stored_keys",
    "subject_keys",
    "tips_naming",
]

SUBJECT_KINDS = ("name", "badge", "unit")
Key = tuple[str, bytes]  # (kind, index)


@dataclass(frozen=True)
class SubjectKeys:
    """A tip's subjects as blind indexes: what intake stores and what conflicts are matched on."""

    indexes: list[Key] = field(default_factory=list)  # whole-value and canonical: SubjectIndex
    tokens: list[Key] = field(default_factory=list)  # SubjectToken

    def __bool__(self) -> bool:
        return bool(self.indexes or self.tokens)

    def params(self) -> dict[str, object]:
        """Bind parameters of `CONFLICTED_STAFF` (a token index already encodes its kind)."""
        return {"subjects": self.indexes, "tokens": [token for _, token in self.tokens]}


def subject_keys(index_key: bytes, values: Iterable[tuple[str, str | None]]) -> SubjectKeys:
    """Indexes of (kind, value) pairs; blank values (only punctuation) are skipped."""
    indexes: set[Key] = set()
    tokens: set[Key] = set()
    for kind, value in set(values):  # the same unit is often named for several officers
        if not value:
            continue
        try:
            found = subject_indexes(index_key, kind, value)
        except FormatError:
            continue  # Only punctuation: nothing to link on.
        indexes.update(((kind, found.whole), (kind, found.canonical)))
        tokens.update((kind, token) for token in found.tokens)
    return SubjectKeys(sorted(indexes), sorted(tokens))


def stored_keys(session: Session, tip_id: uuid.UUID) -> SubjectKeys:
    """A stored tip's keys, in one query."""
    whole = select(literal(False).label("token"), SubjectIndex.kind, SubjectIndex.value)
    tokens = select(literal(True), SubjectToken.kind, SubjectToken.token)
    query = whole.where(SubjectIndex.tip_id == tip_id).union_all(
        tokens.where(SubjectToken.tip_id == tip_id)
    )
    keys = SubjectKeys()
    for is_token, kind, value in session.execute(query):
        (keys.tokens if is_token else keys.indexes).append((kind, value))
    return keys


def _complete(query: Select[uuid.UUID]) -> Select[uuid.UUID]:
    """Keep the groups (a conflict, within one tip) in which every token of the conflict hit."""
    return query.group_by(
        ConflictToken.staff_id, ConflictToken.kind, ConflictToken.conflict, ConflictToken.size
    ).having(func.count() == ConflictToken.size)


# Staff conflicted with the subjects bound as `SubjectKeys.params()` (intake, access changes).
CONFLICTED_STAFF: CompoundSelect[uuid.UUID] = union(
    select(StaffConflict.staff_id).where(
        tuple_(StaffConflict.kind, StaffConflict.value).in_(bindparam("subjects", expanding=True))
    ),
    _complete(
        select(ConflictToken.staff_id).where(
            ConflictToken.token.in_(bindparam("tokens", expanding=True))
        )
    ),
)


def tips_naming(kind: str, whole: bytes, tokens: Iterable[bytes]) -> Select[uuid.UUID]:
    """Stored tips that one conflict matches (registering it)."""
    wanted = sorted(set(tokens))
    by_whole = select(SubjectIndex.tip_id).where(
        SubjectIndex.kind == kind, SubjectIndex.value == whole
    )
    if not wanted:
        return by_whole
    by_tokens = (
        select(SubjectToken.tip_id)
        .where(SubjectToken.kind == kind, SubjectToken.token.in_(wanted))
        .group_by(SubjectToken.tip_id)
        .having(func.count() == len(wanted))
    )
    found = union(by_whole, by_tokens).subquery()
    return select(found.c.tip_id)


def conflicted_tips(staff_id: uuid.UUID) -> Select[uuid.UUID]:
    """Stored tips that any conflict of `staff_id` matches (approving a membership, enrolment)."""
    by_whole = (
        select(SubjectIndex.tip_id)
        .join(
            StaffConflict,
            (StaffConflict.kind == SubjectIndex.kind) & (StaffConflict.value == SubjectIndex.value),
        )
        .where(StaffConflict.staff_id == staff_id)
    )
    by_tokens = (
        select(SubjectToken.tip_id)
        .join(
            ConflictToken,
            (ConflictToken.kind == SubjectToken.kind) & (ConflictToken.token == SubjectToken.token),
        )
        .where(ConflictToken.staff_id == staff_id)
        .group_by(SubjectToken.tip_id)
    )
    complete = _complete(by_tokens)
    found = union(by_whole, complete).subquery()
    return select(found.c.tip_id)
