"""Helpers for the access-change tests: a seeded border instance, tips through the real intake,
and checks of who can open which envelope, read straight from storage."""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from typing import Any

from sqlalchemy import Engine, select
from sqlalchemy.orm import Session

from crypto.age import decrypt_bytes, parse_header
from crypto.errors import CryptoError
from service.access.memberships import decide_membership
from service.access.service import add_member_with_access, apply_pending
from service.blobs.models import Blob, BlobChunk
from service.config import Settings
from service.errors import NotFound
from service.staff.models import Role, StaffUser
from service.staff.sessions import Principal
from service.tips.keys import envelope_bytes
from service.tips.models import Envelope, EnvelopeKind, TipAudience
from service.tips.repository import get_readable_tip
from tests.factories import Border, StaffHandle, add_staff, file_tip, in_tx, principal

__all__ = [
    "World",
    "apply_as",
    "audience",
    "blob_bytes",
    "blob_payloads",
    "can_open",
    "decide_as",
    "envelopes",
    "readable",
    "request_membership",
    "staff_row",
    "world",
]

CONTACT = "signal: +1 555 0100"


def request_membership(engine: Engine, who: StaffHandle, compartment: str) -> int:
    """An admin's request to add `who` to `compartment`: pending until a supervisor approves it
    (returns the key adds queued, 0 while pending)."""

    def request(session: Session) -> int:
        staff = staff_row(session, who)
        return add_member_with_access(session, compartment=compartment, staff=staff, actor="system")

    return in_tx(engine, request)


def decide_as(
    engine: Engine, approver: Principal, who: StaffHandle, compartment: str = "us"
) -> int:
    """`approver` approves `who`'s pending membership; returns the key adds queued."""

    def decide(session: Session) -> int:
        return decide_membership(
            session, approver, compartment=compartment, staff_id=who.id, approve=True
        )

    return in_tx(engine, decide)


def apply_as(engine: Engine, who: Principal) -> int:
    return in_tx(engine, lambda s: apply_pending(s, who))


def readable(engine: Engine, staff_id: uuid.UUID, tip_id: uuid.UUID) -> bool:
    try:
        in_tx(engine, lambda s: get_readable_tip(s, staff_id, tip_id))
    except NotFound:
        return False
    return True


@dataclass(frozen=True)
class World:
    border: Border
    rita: StaffHandle  # reviewer, in no compartment yet
    sue: StaffHandle  # supervisor, in no compartment yet
    tip: uuid.UUID  # el-paso (us), with contact details: ana, sam
    mx_tip: uuid.UUID  # tijuana (mx): luis alone

    @property
    def sam(self) -> Principal:
        return principal(self.border.supervisor_us, Role.SUPERVISOR)

    @property
    def ana(self) -> Principal:
        return principal(self.border.reviewer_us, Role.REVIEWER)


def world(engine: Engine, settings: Settings, border: Border) -> World:
    """The access-change world on the seeded `border` instance."""
    return World(
        border=border,
        rita=add_staff(engine, settings, "rita", Role.REVIEWER, []),
        sue=add_staff(engine, settings, "sue", Role.SUPERVISOR, []),
        tip=file_tip(engine, settings, contact=CONTACT),
        mx_tip=file_tip(engine, settings, agency="tijuana-municipal"),
    )


def staff_row(session: Any, who: StaffHandle) -> StaffUser:
    row = session.get(StaffUser, who.id)
    assert row is not None
    return row  # type: ignore[no-any-return]


def envelopes(engine: Engine, tip_id: uuid.UUID) -> dict[str, bytes]:
    """The tip's envelopes as age files (unsealed from their retention bucket)."""
    with Session(engine) as session:
        kinds = session.scalars(select(Envelope.kind).where(Envelope.tip_id == tip_id)).all()
        opened = {kind: envelope_bytes(session, tip_id, EnvelopeKind(kind)) for kind in kinds}
    return {kind: data for kind, data in opened.items() if data is not None}


def can_open(engine: Engine, tip_id: uuid.UUID, kind: str, identity: str) -> bool:
    try:
        decrypt_bytes(envelopes(engine, tip_id)[kind], [identity])
    except CryptoError:
        return False
    return True


def audience(engine: Engine, tip_id: uuid.UUID) -> dict[uuid.UUID, bool]:
    with engine.connect() as connection:
        rows = connection.execute(
            select(TipAudience.staff_id, TipAudience.identity_custodian).where(
                TipAudience.tip_id == tip_id
            )
        )
        return {staff_id: custodian for staff_id, custodian in rows}


def blob_bytes(engine: Engine, tip_id: uuid.UUID) -> list[tuple[str, int, bytes]]:
    with engine.connect() as connection:
        rows = connection.execute(
            select(BlobChunk.blob_id, BlobChunk.seq, BlobChunk.data)
            .join(Blob, Blob.id == BlobChunk.blob_id)
            .where(Blob.tip_id == tip_id)
            .order_by(BlobChunk.blob_id, BlobChunk.seq)
        )
        return [(str(blob_id), seq, data) for blob_id, seq, data in rows]


def blob_payloads(engine: Engine, tip_id: uuid.UUID) -> list[tuple[str, int, bytes]]:
    """`blob_bytes` without the age headers: what a key rotation must leave untouched."""
    return [
        (blob_id, seq, data[parse_header(data)[1] :] if seq == 0 else data)
        for blob_id, seq, data in blob_bytes(engine, tip_id)
    ]


@dataclass(frozen=True)
class Cast:
    """The border world plus a second supervisor of "us" and an oversight supervisor: enough
    people for every four-eyes decision on conflicts."""

    w: World
    otto: StaffHandle  # oversight supervisor
    sid: StaffHandle  # second us supervisor


def make_cast(engine: Engine, settings: Settings, w: World) -> Cast:
    return Cast(
        w=w,
        otto=add_staff(engine, settings, "otto", Role.SUPERVISOR, ["oversight"]),
        sid=add_staff(engine, settings, "sid", Role.SUPERVISOR, ["us"]),
    )
