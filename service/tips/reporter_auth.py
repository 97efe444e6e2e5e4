"""Receipt login and reporter session tokens.

Unknown and wrong receipts cost the same work and get the same answer: both read one tip row (for
an unknown lookup id, its neighbour's), derive a key, try a real reporter envelope, and count a
failure against the lookup id (no per-address state); bench/receipt_timing.py measures it.
Tokens are sealed, stateless and held only by the reporter's browser: the server stores no
session row, so nothing records when a reporter came back. A token carries the conversation key
it was opened with; once the tip's keys rotate (service.access.rotation) it no longer matches the
tip's recipient and every use is a 401 (`reporter_tip`): the reporter signs in again with the
receipt, which opens the new reporter envelope.
"""

from __future__ import annotations

import base64
import binascii
import hmac
import json
import secrets
import uuid
from dataclasses import dataclass
from datetime import datetime, timedelta
from functools import cache

from sqlalchemy import and_, literal, select, true
from sqlalchemy.orm import Session

from crypto.age import decrypt_bytes, encrypt_bytes, generate_identity, recipient_of
from crypto.errors import CryptoError, FormatError
from crypto.keys import open_sealed, seal
from crypto.receipt import lookup_key, new_salt, parse_receipt, reporter_identity
from service.audit.pending import record_reporter_event
from service.db import lock_for_write, lock_rows
from service.errors import InvalidInput, NotFound, TooManyAttempts, Unauthorized
from service.instance.context import InstanceContext
from service.retention.buckets import UNSEALED, BucketKey, seal_envelope, unseal
from service.retention.models import RetentionKey
from service.tips.models import Envelope, EnvelopeKind, ReceiptLockout, Tip

__all__ = [
    "IDLE_TIMEOUT",
    "LoginOutcome",
    "ReporterSession",
    "issue_token",
    "login_with_receipt",
    "open_token",
    "reporter_tip",
]

IDLE_TIMEOUT = timedelta(minutes=15)
ABSOLUTE_TIMEOUT = timedelta(hours=2)
FREE_FAILURES = 5
MAX_LOCK = timedelta(hours=24)
LOCK_GRANULARITY = timedelta(minutes=15)
_AAD = b"probity/v1/reporter-token"


@dataclass(frozen=True)
class ReporterSession:
    tip_id: uuid.UUID
    conversation_identity: str
    started: datetime


@dataclass(frozen=True)
class LoginOutcome:
    token: str | None  # None: refused (the caller commits the failure count, then answers 401)


@dataclass(frozen=True)
class _Decoy:
    """What stands in for an unknown lookup id: a salt, a recipient and a reporter envelope
    (one stanza, to the reporter) sealed under a bucket key, as a real one is."""

    salt: bytes
    recipient: str
    tip_id: uuid.UUID
    bucket: str
    key: bytes
    envelope: bytes


@cache
def _decoy() -> _Decoy:
    _, recipient = generate_identity()
    identity, _ = generate_identity()
    tip_id, bucket = uuid.uuid4(), BucketKey("open-0000-00", secrets.token_bytes(32))
    age_file = encrypt_bytes(identity.encode(), [recipient])
    kind = EnvelopeKind.REPORTER.value
    sealed = seal_envelope(bucket, tip_id, kind, age_file)
    return _Decoy(new_salt(), recipient, tip_id, bucket.name, bucket.key, sealed)


def _locked(session: Session, lookup_id: str, now: datetime) -> bool:
    lock = session.get(ReceiptLockout, lookup_id, with_for_update=True)
    return lock is not None and lock.locked_until is not None and lock.locked_until > now


def _fail(session: Session, lookup_id: str, now: datetime) -> None:
    lock = session.get(ReceiptLockout, lookup_id)
    if lock is None:
        lock = ReceiptLockout(lookup_id=lookup_id, failures=0)
        session.add(lock)
    lock.failures += 1
    if lock.failures >= FREE_FAILURES:
        backoff = timedelta(minutes=2 ** min(lock.failures - FREE_FAILURES, 12))
        lock.locked_until = _round_up(now + min(backoff, MAX_LOCK))
    session.flush()


def _round_up(moment: datetime) -> datetime:
    """To the next quarter hour: the stored time must not say when the failures happened."""
    quarter = LOCK_GRANULARITY
    floor = moment - timedelta(
        minutes=moment.minute % 15, seconds=moment.second, microseconds=moment.microsecond
    )
    return floor + quarter if floor != moment else moment


@dataclass(frozen=True)
class _Credentials:
    """The tip with the lookup id, or else its neighbour's (checked against, never matching);
    all None past the last lookup id."""

    lookup_id: str | None
    tip_id: uuid.UUID | None
    salt: bytes | None
    recipient: str | None
    envelope: bytes | None
    bucket: str | None
    key: bytes | None  # the bucket's key (None once destroyed)


def _credentials(session: Session, lookup_id: str) -> _Credentials:
    """One row, read the same way for a taken and an unknown lookup id: the first tip at or after
    it in the unique index, with its reporter envelope. An unknown id so costs the database the
    same index descent and row fetch, and the crypto the same work against a real salt and
    envelope, as a taken one with a wrong secret."""
    nearest = (
        select(Tip.id, Tip.lookup_id, Tip.reporter_salt, Tip.reporter_recipient)
        .where(Tip.lookup_id >= lookup_id)
        .order_by(Tip.lookup_id)
        .limit(1)
        .subquery()
    )
    statement = (
        select(
            nearest.c.lookup_id,
            nearest.c.id,
            nearest.c.reporter_salt,
            nearest.c.reporter_recipient,
            Envelope.data,
            Envelope.bucket,
            RetentionKey.key,
        )
        .select_from(select(literal(1).label("one")).subquery())
        .outerjoin(nearest, true())
        .outerjoin(
            Envelope,
            and_(Envelope.tip_id == nearest.c.id, Envelope.kind == EnvelopeKind.REPORTER.value),
        )
        .outerjoin(RetentionKey, RetentionKey.bucket == Envelope.bucket)
    )
    return _Credentials(*session.execute(statement).one())


def _open_reporter_envelope(found: _Credentials, identity: str) -> bytes:
    """The conversation key, or b"": the same two steps (unseal from the bucket, then age) for
    a real envelope, a neighbour's and the decoy, so that all take the same time."""
    decoy = _decoy()
    real = found.envelope is not None and found.key is not None and found.tip_id is not None
    tip_id = found.tip_id if real and found.tip_id is not None else decoy.tip_id
    bucket = found.bucket if real and found.bucket is not None else decoy.bucket
    key = found.key if real and found.key is not None else decoy.key
    sealed = found.envelope if real and found.envelope is not None else decoy.envelope
    # Stored before buckets and not sealed by the worker yet: the decoy's unseal, same work.
    legacy = found.bucket == UNSEALED and found.envelope is not None
    try:
        age_file = unseal(key, tip_id, EnvelopeKind.REPORTER.value, bucket, sealed)
        return decrypt_bytes(found.envelope if legacy and found.envelope else age_file, [identity])
    except CryptoError:
        return b""


def login_with_receipt(
    session: Session, ctx: InstanceContext, text: str, *, now: datetime
) -> LoginOutcome:
    try:
        receipt = parse_receipt(text)
    except FormatError:
        raise InvalidInput("receipt: not a valid receipt", fields={"receipt": "format"}) from None
    lookup_id = lookup_key(receipt)
    # Serialise attempts so concurrent failures are all counted (SQLite: the write lock;
    # PostgreSQL: the lockout row, locked below).
    lock_for_write(session)
    if _locked(session, lookup_id, now):
        raise TooManyAttempts("too many attempts for this receipt; try again later")
    found = _credentials(session, lookup_id)
    identity, recipient = reporter_identity(receipt.secret, found.salt or _decoy().salt)
    matches = hmac.compare_digest(recipient, found.recipient or _decoy().recipient)
    conversation = _open_reporter_envelope(found, identity)
    same_id = hmac.compare_digest(found.lookup_id or "", lookup_id)
    if found.tip_id is None or not same_id or not matches or not conversation:
        _fail(session, lookup_id, now)
        return LoginOutcome(token=None)
    tip = session.get_one(Tip, found.tip_id)
    lock = session.get(ReceiptLockout, lookup_id)
    if lock is not None:
        session.delete(lock)
    tip.reporter_active_on = now.date()
    record_reporter_event(session, "reporter.login", day=now.date(), tip_id=tip.id)
    session.flush()
    return LoginOutcome(token=issue_token(ctx, tip.id, conversation.decode(), started=now, now=now))


def issue_token(
    ctx: InstanceContext, tip_id: uuid.UUID, identity: str, *, started: datetime, now: datetime
) -> str:
    body = {
        "t": str(tip_id),
        "c": identity,
        "s": int(started.timestamp()),
        "e": int((now + IDLE_TIMEOUT).timestamp()),
    }
    sealed = seal(ctx.reporter_session_key, json.dumps(body).encode(), aad=_AAD)
    return base64.urlsafe_b64encode(sealed).decode().rstrip("=")


def open_token(ctx: InstanceContext, token: str, *, now: datetime) -> ReporterSession:
    try:
        raw = base64.urlsafe_b64decode(token + "=" * (-len(token) % 4))
        body = json.loads(open_sealed(ctx.reporter_session_key, raw, aad=_AAD))
        started = datetime.fromtimestamp(body["s"], tz=now.tzinfo)
        expires = datetime.fromtimestamp(body["e"], tz=now.tzinfo)
        session = ReporterSession(uuid.UUID(body["t"]), body["c"], started)
    except (binascii.Error, ValueError, KeyError, TypeError, CryptoError):
        raise Unauthorized("your session is not valid; sign in with your receipt") from None
    if now >= expires or now >= started + ABSOLUTE_TIMEOUT:
        raise Unauthorized("your session has expired; sign in with your receipt again")
    return session


def reporter_tip(session: Session, reporter: ReporterSession, *, lock: bool = False) -> Tip:
    """The reporter's tip (locked for this transaction with `lock`: every writer of reporter
    content reads the tip's recipient under it, so a rotation cannot slip in between). 404 when
    it is gone; 401 when the session's key is no longer the tip's (rotated since sign-in)."""
    query = select(Tip).where(Tip.id == reporter.tip_id)
    tip = lock_rows(session, query).scalar() if lock else session.scalar(query)
    if tip is None:
        raise NotFound("no such report")
    try:
        current = recipient_of(reporter.conversation_identity)
    except (CryptoError, ValueError):
        current = ""
    if not hmac.compare_digest(current, tip.conversation_recipient):
        raise Unauthorized("your session has ended; sign in with your receipt again")
    return tip
