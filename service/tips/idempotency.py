"""Retried submissions (an `Idempotency-Key`, or the form's hidden nonce) get the same receipt,
for a short window only: after it, a replay is refused (`ReplayExpired`, 410) and stores nothing.

The receipt is stored sealed under a key derived from the client's idempotency key, which the
server does not keep: only a hash to find the row. So a database dump still holds no receipt.

Windows are minutes for the form (whoever sends the same body again, e.g. from a shared
computer's history, gets the receipt) and a day for API clients' retries. The stored expiry is
coarse: a form's is rounded up to a 10-minute slot (so the window is 10-20 minutes), an API
one's to a midnight (24-48 hours; no finer than `created_on`). The worker deletes a row
`REPLAY_GRACE` after its expiry: by then any form token issued before the submission has
expired, so a replay of a deleted form row is refused by its token, never stored again.
"""

from __future__ import annotations

import hashlib
import hmac
from datetime import UTC, datetime, timedelta

from sqlalchemy import delete
from sqlalchemy.orm import Session

from crypto.errors import DecryptionError
from crypto.keys import open_sealed, seal
from service.errors import Conflict, InvalidInput, ReplayExpired
from service.tips.models import IdempotencyRecord

__all__ = [
    "REPLAY_GRACE",
    "body_hash",
    "exists",
    "purge_expired",
    "recall",
    "remember",
    "validate_key",
]

_MIN, _MAX = 16, 128
_SLOT = timedelta(minutes=10)
# At least the form token's lifetime (routes.csrf.TTL; a test holds them together).
REPLAY_GRACE = timedelta(hours=3)


def _coarse_expiry(now: datetime, window: timedelta) -> datetime:
    """`now + window` rounded up: to a 10-minute slot under a day, to a midnight from a day."""
    end = now.astimezone(UTC) + window
    if window >= timedelta(days=1):
        midnight = datetime(end.year, end.month, end.day, tzinfo=UTC)
        return midnight if midnight == end else midnight + timedelta(days=1)
    start_of_day = datetime(end.year, end.month, end.day, tzinfo=UTC)
    slots = -(-(end - start_of_day) // _SLOT)  # ceiling division
    return start_of_day + slots * _SLOT


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


def recall(session: Session, key: str, digest: bytes, *, now: datetime) -> str | None:
    """The receipt of an earlier submission with this key, or None. 409 if the body differs,
    410 once the replay window has closed."""
    row_id, seal_key = _ids(key)
    record = session.get(IdempotencyRecord, row_id)
    if record is None:
        return None
    if not hmac.compare_digest(record.body_hash, _keyed(seal_key, digest)):
        raise Conflict("this Idempotency-Key was used with a different submission")
    if record.expires_at <= now:
        raise ReplayExpired("this submission was stored earlier; its receipt is no longer shown")
    try:
        return open_sealed(seal_key, record.sealed_receipt, aad=row_id).decode()
    except DecryptionError:
        raise Conflict("this Idempotency-Key cannot be replayed") from None


def remember(
    session: Session, key: str, digest: bytes, receipt: str, *, now: datetime, window: timedelta
) -> None:
    """Insert in the intake transaction; a concurrent duplicate then fails on the primary key."""
    row_id, seal_key = _ids(key)
    sealed = seal(seal_key, receipt.encode(), aad=row_id)
    session.add(
        IdempotencyRecord(
            key_hash=row_id,
            body_hash=_keyed(seal_key, digest),
            sealed_receipt=sealed,
            created_on=now.date(),
            expires_at=_coarse_expiry(now, window),
        )
    )
    session.flush()


def exists(session: Session, key: str) -> bool:
    return session.get(IdempotencyRecord, _ids(key)[0]) is not None


def purge_expired(session: Session, *, now: datetime) -> int:
    """Delete rows whose window closed at least `REPLAY_GRACE` ago (the worker's job)."""
    done = session.execute(
        delete(IdempotencyRecord).where(IdempotencyRecord.expires_at <= now - REPLAY_GRACE)
    )
    return int(getattr(done, "rowcount", 0) or 0)
