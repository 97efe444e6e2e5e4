"""Staff sign-in, sessions, sign-out and password change.

A login checks the password (Argon2id, through `unseal_secrets`) and a TOTP code, then seals the
user's X25519 identity again under a fresh random session key and stores only that sealed blob in
`staff_sessions`. The key travels in the token `<session id>.<base64url key>` and nowhere else, so
a database dump opens no session, and any app instance can serve any session.

Failures (unknown user, wrong password, wrong or replayed code, inactive or not yet enrolled
account, paused account) all raise the same `Unauthorized` after one password derivation. Failures
of a known user are counted on the account and audited; failures of a name with no account are
counted the same way in `login_throttles`, under an HMAC of the name, so a run of attempts gets the
same answers whether the name exists or not. A paused name (account or not) is answered like a
wrong password after a derivation against the decoy. Callers must COMMIT on `Unauthorized` and
`TooManyAttempts` (`login_in_transaction` does). The slow derivation runs before the write lock is
taken, so a burst of logins never holds up other writers.

Imports `crypto`, `service.db`, `service.errors`, `service.audit.log` and `service.staff`.
"""

from __future__ import annotations

import base64
import binascii
import math
import uuid
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Concatenate, ParamSpec, TypeVar

from sqlalchemy import delete, or_, select, update
from sqlalchemy.orm import Session, sessionmaker

from crypto.errors import CryptoError
from crypto.keys import (
    KdfParams,
    SealedKey,
    needs_rehash,
    new_session_key,
    open_sealed,
    seal,
)
from service.audit.log import record
from service.db import lock_for_write, lock_rows, session_scope
from service.errors import Conflict, TooManyAttempts, Unauthorized
from service.staff.credentials import (
    TOTP_PERIOD,
    decoy_derivation,
    matching_step,
    seal_secrets,
    totp_step,
    verify_password,
)
from service.staff.models import Role, StaffSession, StaffUser
from service.staff.service import StaffSecrets
from service.staff.service import check_password as check_new_password
from service.staff.throttle import (
    FREE_FAILURES,
    MAX_LOCK,
    count_unknown_failure,
    name_paused,
    next_lock,
    purge_login_throttles,
    throttle_name,
)

__all__ = [
    "ABSOLUTE_TIMEOUT",
    "FREE_FAILURES",
    "IDLE_TIMEOUT",
    "INVALID_LOGIN",
    "MAX_LOCK",
    "TOTP_PERIOD",
    "Principal",
    "authenticate",
    "change_password",
    "change_password_in_transaction",
    "commit_refusals",
    "count_failure",
    "login",
    "login_in_transaction",
    "logout",
    "parse_token",
    "purge_ended_sessions",
    "purge_login_throttles",
    "raise_if_locked",
    "reseal_session",
    "revoke_other_sessions",
    "throttle_name",
    "totp_step",
    "user_for_update",
]

IDLE_TIMEOUT = timedelta(minutes=30)
ABSOLUTE_TIMEOUT = timedelta(hours=12)
SEEN_GRANULARITY = timedelta(minutes=1)
INVALID_LOGIN = "invalid username, password or code"
_SESSION_INVALID = "the staff session is missing, expired or not valid; sign in again"
_MAX_TOKEN = 200
T = TypeVar("T")
P = ParamSpec("P")


@dataclass(frozen=True)
class Principal:
    """The signed-in staff member of one request. `identity` is the unsealed AGE-SECRET-KEY."""

    staff_id: uuid.UUID
    username: str
    role: Role
    identity: str
    session_id: uuid.UUID

    def __repr__(self) -> str:  # never print the identity
        return f"Principal({self.username!r}, {self.role.value}, session={self.session_id})"


def _session_aad(session_id: uuid.UUID, staff_id: uuid.UUID) -> bytes:
    return b"probity/v1/staff-session/" + session_id.bytes + staff_id.bytes


def _b64(raw: bytes) -> str:
    return base64.urlsafe_b64encode(raw).decode().rstrip("=")


def parse_token(token: str) -> tuple[uuid.UUID, bytes]:
    """`<session id>.<base64url key>` -> (id, key); Unauthorized for anything else."""
    sid, _, key = token.partition(".")
    if len(token) > _MAX_TOKEN or not key or not key.isascii():
        raise Unauthorized(_SESSION_INVALID)
    try:
        session_id = uuid.UUID(sid)
        raw = base64.urlsafe_b64decode(key + "=" * (-len(key) % 4))
    except (ValueError, binascii.Error):
        raise Unauthorized(_SESSION_INVALID) from None
    if len(raw) != 32:
        raise Unauthorized(_SESSION_INVALID)
    return session_id, raw


def _user_for_update(session: Session, user_id: uuid.UUID) -> StaffUser:
    found = select(StaffUser).where(StaffUser.id == user_id)
    user = lock_rows(session, found).scalar()
    if user is None:  # deleted meanwhile
        raise Unauthorized(INVALID_LOGIN)
    return user


def _is_locked(locked_until: datetime | None, now: datetime) -> bool:
    return locked_until is not None and locked_until > now


def _raise_if_locked(user: StaffUser, now: datetime) -> None:
    """For a signed-in member only (password change): there the account is no secret."""
    if user.locked_until is not None and _is_locked(user.locked_until, now):
        error = TooManyAttempts("too many failed sign-ins; try again later")
        error.retry_after = max(1, math.ceil((user.locked_until - now).total_seconds()))
        raise error


def _paused(session: Session, user: StaffUser | None, name: bytes, now: datetime) -> bool:
    if user is not None:
        return _is_locked(user.locked_until, now)
    return name_paused(session, name, now)


def _fail(session: Session, user: StaffUser, reason: str, now: datetime) -> None:
    """Count and audit a failure of a known user (the caller commits, then answers 401)."""
    user.failed_logins += 1
    user.locked_until = next_lock(user.failed_logins, now) or user.locked_until
    details: dict[str, str | int | bool | None] = {"reason": reason, "failures": user.failed_logins}
    if user.locked_until is not None and user.locked_until > now:
        details["locked_seconds"] = int((user.locked_until - now).total_seconds())
    record(session, actor=user.id, action="staff.login_failed", details=details)
    session.flush()


def _open_session(session: Session, user: StaffUser, identity: str, now: datetime) -> str:
    key = new_session_key()
    row = StaffSession(
        id=uuid.uuid4(),
        staff_id=user.id,
        created_at=now,
        last_seen_at=now,
        expires_at=now + ABSOLUTE_TIMEOUT,
    )
    row.sealed_identity = seal(key, identity.encode(), aad=_session_aad(row.id, user.id))
    session.add(row)
    session.flush()
    return f"{row.id}.{_b64(key)}"


def login(
    session: Session,
    *,
    username: str,
    password: str,
    totp: str,
    kdf: KdfParams,
    now: datetime,
    throttle_key: bytes,
) -> tuple[str, Principal]:
    """Sign in; returns (token, principal). Commit even when this raises (failure counts).

    `throttle_key` keys the HMAC under which failures of names with no account are counted."""
    user = session.scalar(select(StaffUser).where(StaffUser.username == username))
    name = throttle_name(throttle_key, username)
    if _paused(session, user, name, now):
        # The same derivation and the same answer as a wrong password: a paused account must
        # not reveal that it exists (nor that it is paused).
        decoy_derivation(password, kdf)
        raise Unauthorized(INVALID_LOGIN)
    # The slow part, outside any write lock.
    secrets = verify_password(user, password, kdf)
    step = matching_step(secrets.totp_secret, totp, now) if secrets else None
    if user is None:
        count_unknown_failure(session, name, now)
        raise Unauthorized(INVALID_LOGIN)
    resealed = None
    if secrets is not None and step is not None and user.active and user.sealed_secrets:
        if needs_rehash(SealedKey.deserialize(user.sealed_secrets), kdf):
            resealed = seal_secrets(user, secrets, password, kdf)
    lock_for_write(session)
    user = _user_for_update(session, user.id)
    if _is_locked(user.locked_until, now):  # a concurrent attempt paused it meanwhile
        raise Unauthorized(INVALID_LOGIN)
    reason = _refusal(user, secrets, step)
    if reason is not None or secrets is None or step is None:
        _fail(session, user, reason or "password", now)
        raise Unauthorized(INVALID_LOGIN)
    user.failed_logins = 0
    user.locked_until = None
    user.totp_last_step = step
    if resealed is not None:
        user.sealed_secrets = resealed
    token = _open_session(session, user, secrets.identity, now)
    session_id, _ = parse_token(token)
    record(
        session,
        actor=user.id,
        action="staff.login",
        objects={"session": session_id},
        details={"rehashed": resealed is not None},
    )
    return token, _principal(user, secrets.identity, session_id)


def _refusal(user: StaffUser, secrets: StaffSecrets | None, step: int | None) -> str | None:
    if secrets is None:
        return "password"
    if step is None:
        return "code"
    if user.totp_last_step is not None and step <= user.totp_last_step:
        return "code_replayed"
    if not user.active:
        return "inactive"
    if user.enrolled_at is None:  # keys chosen, code not yet confirmed
        return "not_enrolled"
    return None


def _principal(user: StaffUser, identity: str, session_id: uuid.UUID) -> Principal:
    return Principal(
        staff_id=user.id,
        username=user.username,
        role=user.role,
        identity=identity,
        session_id=session_id,
    )


def login_in_transaction(
    factory: sessionmaker[Session],
    *,
    username: str,
    password: str,
    totp: str,
    kdf: KdfParams,
    throttle_key: bytes,
    now: datetime,
) -> tuple[str, Principal]:
    """`login` in its own transaction, committed also when the login is refused."""
    return _committing(
        factory,
        login,
        username=username,
        password=password,
        totp=totp,
        kdf=kdf,
        now=now,
        throttle_key=throttle_key,
    )


def _committing(
    factory: sessionmaker[Session],
    work: Callable[Concatenate[Session, P], T],
    *args: P.args,
    **kwargs: P.kwargs,
) -> T:
    """`work(session, ...)` in its own transaction, committed also when it refuses the caller."""
    refused: list[Unauthorized | TooManyAttempts] = []
    with session_scope(factory) as session:
        try:
            return work(session, *args, **kwargs)
        except (Unauthorized, TooManyAttempts) as exc:
            refused.append(exc)  # leave the block normally so the failure count commits
    raise refused[0]


def _live_session(session: Session, token: str, now: datetime) -> tuple[StaffSession, bytes]:
    session_id, key = parse_token(token)
    row = session.get(StaffSession, session_id)
    if (
        row is None
        or row.revoked_at is not None
        or now >= row.expires_at
        or now - row.last_seen_at > IDLE_TIMEOUT
    ):
        raise Unauthorized(_SESSION_INVALID)
    return row, key


def authenticate(session: Session, token: str, *, now: datetime) -> Principal:
    """The principal of a live session; Unauthorized for anything else."""
    row, key = _live_session(session, token, now)
    user = session.get(StaffUser, row.staff_id)
    if user is None or not user.active:
        raise Unauthorized(_SESSION_INVALID)
    try:
        identity = open_sealed(key, row.sealed_identity, aad=_session_aad(row.id, user.id))
    except CryptoError:
        raise Unauthorized(_SESSION_INVALID) from None
    if now - row.last_seen_at >= SEEN_GRANULARITY:
        row.last_seen_at = now
        session.flush()
    return _principal(user, identity.decode(), row.id)


def logout(session: Session, token: str, *, now: datetime) -> None:
    """Revoke the session server-side: the token is refused from now on, everywhere."""
    principal = authenticate(session, token, now=now)
    session.execute(
        update(StaffSession).where(StaffSession.id == principal.session_id).values(revoked_at=now)
    )
    record(
        session,
        actor=principal.staff_id,
        action="staff.logout",
        objects={"session": principal.session_id},
    )
    session.flush()


def change_password(
    session: Session,
    principal: Principal,
    *,
    old: str,
    new: str,
    kdf: KdfParams,
    now: datetime,
) -> None:
    """Re-seal identity and TOTP secret under `new`; revoke the user's other sessions.

    A wrong `old` counts as a failed sign-in (a stolen session must not guess passwords freely);
    commit on Unauthorized as for `login`.
    """
    user = session.get(StaffUser, principal.staff_id)
    if user is None:
        raise Unauthorized(_SESSION_INVALID)
    check_new_password(new, user_inputs=[user.username])
    _raise_if_locked(user, now)
    secrets = verify_password(user, old, kdf)
    resealed = seal_secrets(user, secrets, new, kdf) if secrets is not None else None
    lock_for_write(session)
    user = _user_for_update(session, user.id)
    if resealed is None:
        _fail(session, user, "password_change", now)
        raise Unauthorized("the current password is not correct")
    user.sealed_secrets = resealed
    user.failed_logins = 0
    user.locked_until = None
    revoked = revoke_other_sessions(session, user.id, keep=principal.session_id, now=now)
    record(
        session,
        actor=user.id,
        action="staff.password_changed",
        details={"sessions_revoked": revoked},
    )
    session.flush()


def change_password_in_transaction(
    factory: sessionmaker[Session],
    principal: Principal,
    *,
    old: str,
    new: str,
    kdf: KdfParams,
    now: datetime,
) -> None:
    """`change_password`, committed also when the old password is refused (it counts)."""
    _committing(factory, change_password, principal, old=old, new=new, kdf=kdf, now=now)


def purge_ended_sessions(session: Session, *, now: datetime) -> int:
    """Delete session rows that can never be used again (for the worker); returns how many.

    Sign-ins and sign-outs stay in the audit log; the rows themselves hold nothing worth keeping.
    """
    idle_since = now - IDLE_TIMEOUT
    result = session.execute(
        delete(StaffSession).where(
            or_(
                StaffSession.revoked_at.is_not(None),
                StaffSession.expires_at <= now,
                StaffSession.last_seen_at < idle_since,
            )
        )
    )
    return int(getattr(result, "rowcount", 0) or 0)


# For service.staff.rotation, which changes a password the same way with a new identity.
commit_refusals = _committing
count_failure = _fail
raise_if_locked = _raise_if_locked
user_for_update = _user_for_update


def reseal_session(session: Session, token: str, principal: Principal, identity: str) -> None:
    """Seal `identity` in the principal's own session (its key is in `token`), so the session
    goes on after the member's identity changed."""
    session_id, key = parse_token(token)
    row = session.get(StaffSession, session_id)
    if row is None or session_id != principal.session_id or row.staff_id != principal.staff_id:
        # Not Unauthorized: callers commit on that, and nothing of the change may stay.
        raise Conflict("this session changed meanwhile; sign in again")
    row.sealed_identity = seal(key, identity.encode(), aad=_session_aad(row.id, row.staff_id))


def revoke_other_sessions(
    session: Session, staff_id: uuid.UUID, *, keep: uuid.UUID, now: datetime
) -> int:
    """End every live session of the member but `keep` (a password or identity change);
    returns how many."""
    result = session.execute(
        update(StaffSession)
        .where(
            StaffSession.staff_id == staff_id,
            StaffSession.id != keep,
            StaffSession.revoked_at.is_(None),
        )
        .values(revoked_at=now)
    )
    return int(getattr(result, "rowcount", 0) or 0)
