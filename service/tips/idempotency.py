"""Retried submissions (an `Idempotency-Key`, or the form's hidden nonce) get the same receipt.

The receipt is stored sealed under a key derived from the client's idempotency key, which the
server does not keep: only a hash to find the row. So a database dump still holds no receipt.
"""

from __future__ import annotations

import hashlib
import hmac
from datetime import date

from sqlalchemy.orm import Session

from crypto.errors import DecryptionError
from crypto.keys import open_sealed, seal
from service.errors import Conflict, InvalidInput
from service.tips.models import IdempotencyRecord

__all__ = ["body_hash", "exists", "recall", "remember", "validate_key"]

_MIN, _MAX = 16, 128


def validate_key(key: str) -> str:
    if not (_MIN <= len(key) <= _MAX) or not key.isascii() or not key.isprintable():
        raise InvalidInput(f"Idempotency-Key must be {_MIN}-{_MAX} printable ASCII characters")
    return key


def _ids(key: str) -> tuple[bytes, bytes]:
    row_id = hashlib.sha256(b"probity/v1/idempotency-id\x00" + key.encode()).digest()
    seal_key = hashlib.sha256(b"probity/v1/idempotency-seal\x00" + key.encode()).digest()
    return row_id, seal_key


def _keyed(seal_key: bytes, digest: bytes) -> bytes:
    # Keyed by the client's secret: a dump cannot confirm a guessed submission.
    return hmac.new(seal_key, b"body\x00" + digest, hashlib.sha256).digest()


def body_hash(body: bytes) -> bytes:
    return hashlib.sha256(body).digest()


def recall(session: Session, key: str, digest: bytes) -> str | None:
    """The receipt of an earlier submission with this key, or None. 409 if the body differs."""
    row_id, seal_key = _ids(key)
    record = session.get(IdempotencyRecord, row_id)
    if record is None:
        return None
    if not hmac.compare_digest(record.body_hash, _keyed(seal_key, digest)):
        raise Conflict("this Idempotency-Key was used with a different submission")
    try:
        return open_sealed(seal_key, record.sealed_receipt, aad=row_id).decode()
    except DecryptionError:
        raise Conflict("this Idempotency-Key cannot be replayed") from None


def remember(session: Session, key: str, digest: bytes, receipt: str, *, today: date) -> None:
    """Insert in the intake transaction; a concurrent duplicate then fails on the primary key."""
    row_id, seal_key = _ids(key)
    sealed = seal(seal_key, receipt.encode(), aad=row_id)
    session.add(
        IdempotencyRecord(
            key_hash=row_id,
            body_hash=_keyed(seal_key, digest),
            sealed_receipt=sealed,
            created_on=today,
        )
    )
    session.flush()


def exists(session: Session, key: str) -> bool:
    return session.get(IdempotencyRecord, _ids(key)[0]) is not None
