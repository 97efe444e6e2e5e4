"""Rotating a tip's keys when someone who could read it loses access (design section 3).

Rewriting the envelopes without a member (service.access.envelopes) stops the server from
handing them the keys again, but a member who saved the tip's private keys while they had access
could still open whatever is encrypted to those keys later. Rotation makes new key pairs
(conversation, case, and identity if the tip has one) and:

- rewrites the age header of every blob of the tip (its first chunk row) from the old tip key to
  the new one: the payload, and its file key, stay as they are, so nothing is re-encrypted;
- writes new staff, reporter (to `tips.reporter_recipient`) and identity envelopes for the
  holders given and the recovery key, through service.tips.keys (the one envelope path);
- updates the tip's public recipients, so every later write goes to the new keys.

Only someone who can open the envelopes (a supervisor in the audience, the recovery key) can
rotate. Everything that can fail (opening the envelopes, every blob's header) is planned in
memory first - headers only, never a blob's payload - and written afterwards, so a failure
changes nothing. The caller holds the tip's lock (`envelopes.lock_tips`); every writer of tip
content reads the recipients under the same lock, so nothing is encrypted to a dead key.
"""

from __future__ import annotations

import json
import uuid
from collections.abc import Collection, Sequence
from dataclasses import dataclass

from sqlalchemy import select, update
from sqlalchemy.orm import Session

from crypto.age import decrypt_bytes, encrypt_bytes, generate_identity, parse_header, rewrap
from crypto.errors import CryptoError
from service.access.envelopes import (
    Holder,
    envelope_recipients,
    identity_grants,
    lock_tips,
    recovery_recipient,
)
from service.audit.log import record
from service.blobs.models import Blob, BlobChunk
from service.errors import Conflict, NotFound
from service.tips.keys import envelope_bytes, store_envelope
from service.tips.models import EnvelopeKind, KeyKind, Tip

__all__ = [
    "BlobHeader",
    "Rotation",
    "has_keys",
    "plan_rotation",
    "rotate_tip_keys",
    "write_rotation",
]


@dataclass(frozen=True)
class BlobHeader:
    """A blob's new age header, and the size of the one it replaces."""

    blob_id: uuid.UUID
    old_size: int
    header: bytes


@dataclass(frozen=True)
class Rotation:
    tip_id: uuid.UUID
    recipients: dict[KeyKind, str]  # the new public keys
    envelopes: dict[EnvelopeKind, bytes]
    headers: list[BlobHeader]


def has_keys(session: Session, tip_id: uuid.UUID) -> bool:
    """False once purged (the envelopes are gone): nothing left to rotate."""
    return envelope_bytes(session, tip_id, EnvelopeKind.STAFF) is not None


def _old_keys(session: Session, tip: Tip, identity: str) -> dict[KeyKind, str]:
    """The tip's present private keys, opened with `identity` (409 if it cannot)."""
    staff = envelope_bytes(session, tip.id, EnvelopeKind.STAFF)
    if staff is None:
        raise Conflict("the tip's keys are gone (purged); there is nothing to rotate")
    try:
        keys = json.loads(decrypt_bytes(staff, [identity]))
        old = {KeyKind.CONVERSATION: keys["conversation"], KeyKind.CASE: keys["case"]}
        sealed = envelope_bytes(session, tip.id, EnvelopeKind.IDENTITY)
        if sealed is not None:
            old[KeyKind.IDENTITY] = decrypt_bytes(sealed, [identity]).decode()
    except CryptoError:
        raise Conflict("you cannot open this tip's keys, so you cannot rotate them") from None
    return old


def _first_row(session: Session, blob_id: uuid.UUID) -> bytes | None:
    return session.scalar(
        select(BlobChunk.data).where(BlobChunk.blob_id == blob_id, BlobChunk.seq == 0)
    )


def _new_headers(
    session: Session, tip_id: uuid.UUID, old: dict[KeyKind, str], new: dict[KeyKind, str]
) -> list[BlobHeader]:
    """Every blob's header to the new key of its kind, read one first row at a time."""
    planned = []
    blobs = session.execute(
        select(Blob.id, Blob.key_kind).where(Blob.tip_id == tip_id).order_by(Blob.id)
    ).all()
    for blob_id, kind in blobs:
        first = _first_row(session, blob_id)
        key = old.get(KeyKind(kind))
        if first is None or key is None:
            raise Conflict("a blob of this tip has no header or no key; nothing was rotated")
        try:
            _, size = parse_header(first)
            header = rewrap(first[:size], [key], [new[KeyKind(kind)]])
        except CryptoError:
            raise Conflict(
                "a blob of this tip does not open with its key; nothing was rotated"
            ) from None
        planned.append(BlobHeader(blob_id=blob_id, old_size=size, header=header))
    return planned


def plan_rotation(
    session: Session,
    tip_id: uuid.UUID,
    identity: str,
    holders: Sequence[Holder],
    *,
    granted: Collection[uuid.UUID] | None = None,
) -> Rotation:
    """New keys for the tip, sealed for `holders` (+ recovery; the identity key for custodians
    and `granted`, by default the stored reveals), and every blob header to them. Writes
    nothing; 409 when `identity` cannot open the keys or a blob."""
    tip = session.get(Tip, tip_id)
    if tip is None:
        raise NotFound("no such tip")
    old = _old_keys(session, tip, identity)
    pairs = {kind: generate_identity() for kind in old}  # (private, public)
    new = {kind: public for kind, (_, public) in pairs.items()}
    headers = _new_headers(session, tip_id, old, new)
    recovery = recovery_recipient(session)
    grants = identity_grants(session, tip_id) if granted is None else granted
    staff_keys = {k.value: pairs[k][0] for k in (KeyKind.CONVERSATION, KeyKind.CASE)}
    conversation = pairs[KeyKind.CONVERSATION][0].encode()
    staff_to = envelope_recipients(EnvelopeKind.STAFF.value, holders, grants, recovery)
    envelopes = {
        EnvelopeKind.STAFF: encrypt_bytes(json.dumps(staff_keys).encode(), staff_to),
        EnvelopeKind.REPORTER: encrypt_bytes(conversation, [tip.reporter_recipient]),
    }
    if KeyKind.IDENTITY in pairs:
        custodians = envelope_recipients(EnvelopeKind.IDENTITY.value, holders, grants, recovery)
        secret = pairs[KeyKind.IDENTITY][0].encode()
        envelopes[EnvelopeKind.IDENTITY] = encrypt_bytes(secret, custodians)
    return Rotation(tip_id=tip_id, recipients=new, envelopes=envelopes, headers=headers)


def write_rotation(
    session: Session, rotation: Rotation, *, actor: uuid.UUID | str, by_recovery: bool = False
) -> None:
    """Store a planned rotation and audit it (`tip.keys_rotated`, counts only)."""
    for planned in rotation.headers:
        first = _first_row(session, planned.blob_id)
        if first is None or parse_header(first)[1] != planned.old_size:
            raise Conflict("the tip's content changed while its keys were being rotated")
        session.execute(
            update(BlobChunk)
            .where(BlobChunk.blob_id == planned.blob_id, BlobChunk.seq == 0)
            .values(data=planned.header + first[planned.old_size :])
        )
        grown = len(planned.header) - planned.old_size
        if grown:
            session.execute(
                update(Blob).where(Blob.id == planned.blob_id).values(size=Blob.size + grown)
            )
    for kind, data in rotation.envelopes.items():
        store_envelope(session, rotation.tip_id, kind, data)
    tip = session.get_one(Tip, rotation.tip_id)
    tip.conversation_recipient = rotation.recipients[KeyKind.CONVERSATION]
    tip.case_recipient = rotation.recipients[KeyKind.CASE]
    if KeyKind.IDENTITY in rotation.recipients:
        tip.identity_recipient = rotation.recipients[KeyKind.IDENTITY]
    session.flush()
    details: dict[str, int | bool] = {
        "blobs": len(rotation.headers),
        "envelopes": len(rotation.envelopes),
    }
    if by_recovery:
        details["by_recovery"] = True
    record(session, actor=actor, action="tip.keys_rotated", tip_id=rotation.tip_id, details=details)


def rotate_tip_keys(
    session: Session,
    tip_id: uuid.UUID,
    identity: str,
    *,
    actor: uuid.UUID | str,
    holders: Sequence[Holder],
    granted: Collection[uuid.UUID] | None = None,
    by_recovery: bool = False,
) -> Rotation:
    """Lock the tip, plan its rotation for `holders` with `identity`, then write it."""
    lock_tips(session, [tip_id])
    rotation = plan_rotation(session, tip_id, identity, holders, granted=granted)
    write_rotation(session, rotation, actor=actor, by_recovery=by_recovery)
    return rotation
