"""Which retention bucket an envelope sits in, and sealing envelopes under bucket keys.

Policy: an open tip's envelopes sit in the bucket of the month it was received
(`open-2026-12`); once it is closed the worker re-seals them (server-side: the age files inside
are untouched, no tip key is needed) into the bucket of the month its retention ends
(`expires-2027-12`, closure day + the compartment's retention). Tips in one `expires-` bucket
are purged around the same time, so destroying a key after a purge re-seals few others, and a
bucket whose tips are all gone has its key deleted outright. A tip under legal hold whose
retention ended is moved to the next month's bucket instead, again each month while held.

Each sealed envelope binds its tip, kind and bucket (associated data): a row copied onto another
tip or bucket does not open.
"""

from __future__ import annotations

import secrets
import uuid
from dataclasses import dataclass
from datetime import date

from sqlalchemy import select
from sqlalchemy.orm import Session

from crypto.errors import CryptoError
from crypto.keys import open_sealed, seal
from service.retention.repository import KEY_SIZE, bucket_key, held_key, key_for_writing
from service.tips.models import Envelope, EnvelopeKind, Tip, add_months

__all__ = [
    "UNSEALED",
    "BucketKey",
    "expiry_bucket",
    "intake_bucket",
    "open_bucket",
    "open_envelope",
    "reseal_tip",
    "seal_envelope",
    "seal_unsealed",
    "unseal",
]

_AAD = b"probity/v1/retention-envelope"
# Envelopes stored before buckets existed (the migration cannot seal: it imports no crypto);
# the worker's sweep seals them (`seal_unsealed`), and they are read as they are until then.
UNSEALED = "unsealed"


@dataclass(frozen=True)
class BucketKey:
    name: str
    key: bytes
    created: bool = False  # created by this transaction: the keyring escrow needs rewriting
    provisional: bool = False  # not stored: what a tip begun before its key existed holds


def open_bucket(received: date) -> str:
    return f"open-{received:%Y-%m}"


def expiry_bucket(expires: date) -> str:
    return f"expires-{expires:%Y-%m}"


def next_month(day: date) -> date:
    return add_months(day.replace(day=1), 1)


def _aad(tip_id: uuid.UUID, kind: str, bucket: str) -> bytes:
    return b"|".join((_AAD, tip_id.bytes, kind.encode(), bucket.encode()))


def seal_envelope(bucket: BucketKey, tip_id: uuid.UUID, kind: str, age_file: bytes) -> bytes:
    return seal(bucket.key, age_file, aad=_aad(tip_id, kind, bucket.name))


def unseal(key: bytes, tip_id: uuid.UUID, kind: str, bucket: str, sealed: bytes) -> bytes:
    """The age file; CryptoError on a wrong key or a row moved to another tip, kind or bucket."""
    return open_sealed(key, sealed, aad=_aad(tip_id, kind, bucket))


def open_envelope(session: Session, envelope: Envelope) -> bytes | None:
    """The age file of a stored envelope, or None when its bucket key is gone (purged)."""
    if envelope.bucket == UNSEALED:
        return envelope.data
    key = bucket_key(session, envelope.bucket)
    if key is None:
        return None
    try:
        return unseal(key, envelope.tip_id, envelope.kind, envelope.bucket, envelope.data)
    except CryptoError:
        return None


def writable(session: Session, bucket: str) -> BucketKey:
    key, created = key_for_writing(session, bucket)
    if created:
        session.info["retention_key_created"] = True
    return BucketKey(bucket, key, created)


def intake_bucket(session: Session, today: date, *, create: bool = True) -> BucketKey:
    """The bucket a new tip's envelopes go to: one key lookup (the worker creates this and
    next month's keys ahead, so intake creates one only when the worker has not run).
    `create=False` only reads: a missing key is stood in for by a provisional one, never
    stored (`BucketKey.provisional`), to be replaced by the storing transaction."""
    name = open_bucket(today)
    if create:
        return writable(session, name)
    key = held_key(session, name)
    if key is None:
        return BucketKey(name, secrets.token_bytes(KEY_SIZE), provisional=True)
    return BucketKey(name, key)


def reseal_tip(session: Session, tip_id: uuid.UUID, target: str) -> int:
    """Move the tip's envelopes into bucket `target` (same age files, new seal). Returns how
    many moved; envelopes whose key is gone are left alone (nothing could open them)."""
    envelopes = session.scalars(
        select(Envelope).where(Envelope.tip_id == tip_id, Envelope.bucket != target)
    ).all()
    if not envelopes:
        return 0
    bucket = writable(session, target)
    moved = 0
    for envelope in envelopes:
        age_file = open_envelope(session, envelope)
        if age_file is None:
            continue
        envelope.data = seal_envelope(bucket, tip_id, envelope.kind, age_file)
        envelope.bucket = target
        moved += 1
    session.flush()
    return moved


def store_sealed(
    session: Session, tip_id: uuid.UUID, kind: EnvelopeKind, age_file: bytes, *, today: date
) -> None:
    """Write (or replace) one envelope, sealed under its bucket's key (a new envelope joins its
    tip's other envelopes, or this month's open bucket)."""
    envelope = session.get(Envelope, (tip_id, kind.value))
    name = envelope.bucket if envelope is not None else _tip_bucket(session, tip_id, today)
    name = open_bucket(today) if name == UNSEALED else name
    bucket = writable(session, name)
    data = seal_envelope(bucket, tip_id, kind.value, age_file)
    if envelope is None:
        session.add(Envelope(tip_id=tip_id, kind=kind.value, data=data, bucket=name))
    else:
        envelope.data = data
        envelope.bucket = name


def _tip_bucket(session: Session, tip_id: uuid.UUID, today: date) -> str:
    found = session.scalar(select(Envelope.bucket).where(Envelope.tip_id == tip_id).limit(1))
    return found if found is not None else open_bucket(today)


def seal_unsealed(session: Session) -> int:
    """Seal envelopes stored before buckets existed into their tip's received month's bucket."""
    rows = session.execute(
        select(Envelope, Tip.received_on)
        .join(Tip, Tip.id == Envelope.tip_id)
        .where(Envelope.bucket == UNSEALED)
    ).all()
    for envelope, received in rows:
        bucket = writable(session, open_bucket(received))
        envelope.data = seal_envelope(bucket, envelope.tip_id, envelope.kind, envelope.data)
        envelope.bucket = bucket.name
    session.flush()
    return len(rows)
