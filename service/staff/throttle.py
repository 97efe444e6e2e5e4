"""Pausing sign-ins after repeated failures, the same way for names with and without an account.

An account counts its failures on its own row (`StaffUser.failed_logins`/`locked_until`); a name
with no account counts them in `login_throttles` under an HMAC of the name (keyed by the instance,
so the table does not list the names tried). Both use `next_lock`, so the same run of attempts
pauses both at the same moment for the same time. Imports `service.db` and `service.staff.models`.
"""

from __future__ import annotations

import hashlib
import hmac
from datetime import datetime, timedelta

from sqlalchemy import delete, or_, select
from sqlalchemy.dialects.postgresql import insert as pg_insert
from sqlalchemy.dialects.sqlite import insert as sqlite_insert
from sqlalchemy.orm import Session

from service.db import lock_for_write, lock_rows
from service.staff.models import LoginThrottle

__all__ = [
    "FIRST_LOCK",
    "FREE_FAILURES",
    "MAX_LOCK",
    "THROTTLE_MEMORY",
    "count_unknown_failure",
    "name_paused",
    "next_lock",
    "purge_login_throttles",
    "throttle_name",
]

FREE_FAILURES = 5
FIRST_LOCK = timedelta(minutes=1)
MAX_LOCK = timedelta(hours=1)
THROTTLE_MEMORY = timedelta(days=1)


def next_lock(failures: int, now: datetime) -> datetime | None:
    """The same doubling pause for accounts and for names with no account."""
    extra = failures - FREE_FAILURES
    if extra < 0:
        return None
    pause: timedelta = min(FIRST_LOCK * (2 ** min(extra, 12)), MAX_LOCK)
    return now + pause


def throttle_name(key: bytes, username: str) -> bytes:
    """What a name with no account is counted under (the name itself is not stored)."""
    return hmac.new(key, b"probity/v1/login-name/" + username.encode(), hashlib.sha256).digest()


def name_paused(session: Session, name: bytes, now: datetime) -> bool:
    row = session.get(LoginThrottle, name)
    until: datetime | None = row.locked_until if row is not None else None
    return until is not None and until > now


def count_unknown_failure(session: Session, name: bytes, now: datetime) -> None:
    """Count a failure of a name with no account, exactly as an account's are counted."""
    lock_for_write(session)
    insert = sqlite_insert if session.get_bind().dialect.name == "sqlite" else pg_insert
    session.execute(
        insert(LoginThrottle)
        .values(name_hmac=name, failures=0, last_failed_at=now)
        .on_conflict_do_nothing(index_elements=["name_hmac"])
    )
    found = select(LoginThrottle).where(LoginThrottle.name_hmac == name)
    row = lock_rows(session, found).scalars().one()
    row.failures += 1
    row.last_failed_at = now
    row.locked_until = next_lock(row.failures, now) or row.locked_until
    session.flush()


def purge_login_throttles(session: Session, *, now: datetime) -> int:
    """Forget counters of names with no account after a quiet day (for the worker)."""
    result = session.execute(
        delete(LoginThrottle).where(
            LoginThrottle.last_failed_at < now - THROTTLE_MEMORY,
            or_(LoginThrottle.locked_until.is_(None), LoginThrottle.locked_until <= now),
        )
    )
    return int(getattr(result, "rowcount", 0) or 0)
