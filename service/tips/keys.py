"""Opening a tip's private keys with a staff identity (the envelopes of design section 3).

Envelopes are stored sealed under their retention bucket's key (service.retention.buckets);
`envelope_bytes` and `store_envelope` are the one way in and out. The staff envelope holds the
conversation and case keys for the audience and recovery; the identity envelope the identity key
for the custodians and recovery. Access is checked in the
query first (service.tips.repository); failing to open an envelope is also a 404.
"""

from __future__ import annotations

import json
import uuid
from dataclasses import dataclass

from sqlalchemy.orm import Session

from crypto.age import decrypt_bytes
from crypto.errors import CryptoError
from service.db import utcnow
from service.errors import NotFound
from service.retention.buckets import open_envelope, store_sealed
from service.tips.models import Envelope, EnvelopeKind

__all__ = ["TipKeys", "envelope_bytes", "open_identity_key", "open_tip_keys", "store_envelope"]


@dataclass(frozen=True)
class TipKeys:
    conversation: str  # AGE-SECRET-KEY-1...
    case: str


def envelope_bytes(session: Session, tip_id: uuid.UUID, kind: EnvelopeKind) -> bytes | None:
    """The age file of one envelope, unsealed from its retention bucket, or None (no envelope,
    or its bucket key was destroyed). Every reader of an envelope goes through here."""
    envelope = session.get(Envelope, (tip_id, kind.value))
    return None if envelope is None else open_envelope(session, envelope)


def store_envelope(session: Session, tip_id: uuid.UUID, kind: EnvelopeKind, data: bytes) -> None:
    """Write (or replace) one envelope's age file, sealed under its retention bucket's key.
    Every writer of an envelope goes through here."""
    store_sealed(session, tip_id, kind, data, today=utcnow().date())


def _open(session: Session, tip_id: uuid.UUID, kind: EnvelopeKind, identity: str) -> bytes:
    data = envelope_bytes(session, tip_id, kind)
    if data is None:
        raise NotFound("no such tip")
    try:
        return decrypt_bytes(data, [identity])
    except CryptoError:
        raise NotFound("no such tip") from None


def open_tip_keys(session: Session, tip_id: uuid.UUID, identity: str) -> TipKeys:
    keys = json.loads(_open(session, tip_id, EnvelopeKind.STAFF, identity))
    return TipKeys(conversation=keys["conversation"], case=keys["case"])


def open_identity_key(session: Session, tip_id: uuid.UUID, identity: str) -> str:
    return _open(session, tip_id, EnvelopeKind.IDENTITY, identity).decode()
