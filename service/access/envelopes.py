"""Rewriting a tip's staff and identity envelopes for a new set of holders.

A rewrite replaces the age header only (crypto.age.rewrap_file): the payload - the tip keys - and
every blob encrypted to those keys stay as they are. Unwrapping the file key needs an identity
that the old header lists, so only a current key holder (or the recovery key) can rewrite.

Rewrites are planned in memory first (`plan_rewrites`: every decryption that can fail happens
there) and written afterwards (`write_rewrites`), so a holder who cannot open an envelope changes
nothing.
"""

from __future__ import annotations

import uuid
from collections.abc import Collection, Iterable, Sequence
from dataclasses import dataclass
from typing import Protocol

from sqlalchemy import select
from sqlalchemy.orm import Session

from crypto.age import rewrap_file
from crypto.errors import CryptoError
from service.access.models import IdentityGrant
from service.db import lock_for_write, lock_rows
from service.errors import Conflict, NotInitialised
from service.instance.models import RECOVERY_RECIPIENT, InstanceKey
from service.staff.models import Role, StaffUser
from service.tips.keys import envelope_bytes, store_envelope
from service.tips.models import Envelope, EnvelopeKind, Tip, TipAudience
from service.tips.routing import Reader
from service.tips.subjects import SubjectKeys, stored_keys

__all__ = [
    "Holder",
    "KeyHolder",
    "Rewrite",
    "current_holders",
    "envelope_recipients",
    "identity_grants",
    "lock_tips",
    "plan_rewrites",
    "recovery_recipient",
    "tip_subjects",
    "write_rewrites",
]


class KeyHolder(Protocol):
    """Whoever rewrites: service.staff.sessions.Principal fits (identity is unsealed)."""

    @property
    def staff_id(self) -> uuid.UUID: ...

    @property
    def role(self) -> Role: ...

    @property
    def identity(self) -> str: ...


@dataclass(frozen=True)
class Holder:
    """One audience member as the envelopes should list them."""

    staff: Reader
    custodian: bool  # receives the identity key too


@dataclass(frozen=True)
class Rewrite:
    tip_id: uuid.UUID
    kind: str
    data: bytes


def lock_tips(session: Session, tip_ids: Collection[uuid.UUID]) -> None:
    """Lock the tip rows for the transaction, in id order (so no deadlock); SQLite: the write
    lock, taken before reading what we will rewrite."""
    lock_for_write(session)
    if tip_ids and session.get_bind().dialect.name != "sqlite":  # one lock covers SQLite
        lock_rows(session, select(Tip.id).where(Tip.id.in_(list(tip_ids))).order_by(Tip.id))


def recovery_recipient(session: Session) -> str:
    row = session.get(InstanceKey, RECOVERY_RECIPIENT)
    if row is None:
        raise NotInitialised("instance not initialised; run `probity init`")
    return row.value


def tip_subjects(session: Session, tip_id: uuid.UUID) -> SubjectKeys:
    return stored_keys(session, tip_id)


def current_holders(session: Session, tip_id: uuid.UUID) -> list[Holder]:
    rows = session.execute(
        select(
            StaffUser.id,
            StaffUser.username,
            StaffUser.role,
            StaffUser.recipient,
            TipAudience.identity_custodian,
        )
        .join(TipAudience, TipAudience.staff_id == StaffUser.id)
        .where(TipAudience.tip_id == tip_id)
        .order_by(StaffUser.username)
    )
    return [Holder(staff=Reader(*row[:4]), custodian=row[4]) for row in rows]


def identity_grants(session: Session, tip_id: uuid.UUID) -> set[uuid.UUID]:
    return set(
        session.scalars(select(IdentityGrant.staff_id).where(IdentityGrant.tip_id == tip_id))
    )


def _unique(recipients: Iterable[str]) -> list[str]:
    return list(dict.fromkeys(recipients))


def envelope_recipients(
    kind: str, holders: Sequence[Holder], granted: Collection[uuid.UUID], recovery: str
) -> list[str]:
    if kind == EnvelopeKind.STAFF.value:
        chosen = [h.staff.recipient for h in holders]
    else:  # identity: custodians, and approved reveals of members still in the audience
        chosen = [h.staff.recipient for h in holders if h.custodian or h.staff.id in granted]
    return _unique([*chosen, recovery])


def plan_rewrites(
    session: Session,
    tip_id: uuid.UUID,
    identity: str,
    holders: Sequence[Holder],
    *,
    granted: Collection[uuid.UUID] | None = None,
    kinds: Collection[EnvelopeKind] = (EnvelopeKind.STAFF, EnvelopeKind.IDENTITY),
) -> list[Rewrite]:
    """New staff and identity envelopes for `holders` (+ recovery), unwrapped with `identity`.

    `granted` defaults to the stored identity grants; `kinds` limits the envelopes rewritten (a
    member who is no custodian rewrites only the staff envelope). Raises Conflict (nothing
    written) when `identity` cannot open one of the envelopes.
    """
    recovery = recovery_recipient(session)
    grants = identity_grants(session, tip_id) if granted is None else granted
    envelopes = session.scalars(
        select(Envelope).where(
            Envelope.tip_id == tip_id,
            Envelope.kind.in_([kind.value for kind in kinds]),
        )
    )
    plans = []
    for envelope in envelopes:
        recipients = envelope_recipients(envelope.kind, holders, grants, recovery)
        stored = envelope_bytes(session, tip_id, EnvelopeKind(envelope.kind))
        try:
            data = rewrap_file(stored or b"", [identity], recipients)
        except CryptoError:
            raise Conflict(
                f"you cannot open this tip's {envelope.kind} keys, so you cannot rewrite them"
            ) from None
        plans.append(Rewrite(tip_id=tip_id, kind=envelope.kind, data=data))
    return plans


def write_rewrites(session: Session, rewrites: Iterable[Rewrite]) -> None:
    for rewrite in rewrites:
        kind = EnvelopeKind(rewrite.kind)
        if envelope_bytes(session, rewrite.tip_id, kind) is None:  # planned from this row
            raise Conflict("the tip's keys changed while they were being rewritten")
        store_envelope(session, rewrite.tip_id, kind, rewrite.data)
    session.flush()
