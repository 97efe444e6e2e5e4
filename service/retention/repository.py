"""Queries on bucket keys and the envelopes sealed under them.

Locking (PostgreSQL): a writer sealing an envelope under a bucket key holds the key row with
FOR KEY SHARE until it commits; destroying the key takes FOR UPDATE first. So a key is never
replaced while an envelope is being sealed under it (the sealed row would open nothing), and
writers do not block each other. SQLite has one writer at a time: nothing to add.
"""

from __future__ import annotations

import secrets
import uuid

from sqlalchemy import Select, select
from sqlalchemy.dialects.postgresql import insert as pg_insert
from sqlalchemy.dialects.sqlite import insert as sqlite_insert
from sqlalchemy.orm import Session

from service.db import lock_rows, utcnow
from service.retention.models import RetentionKey
from service.tips.models import Envelope

__all__ = [
    "KEY_SIZE",
    "bucket_key",
    "bucket_names",
    "envelopes_in",
    "held_key",
    "key_for_writing",
    "lock_key",
    "tip_buckets",
]

KEY_SIZE = 32


def bucket_key(session: Session, bucket: str) -> bytes | None:
    """The key of `bucket` for reading (None once destroyed); from the session when preloaded."""
    row = session.get(RetentionKey, bucket)
    return None if row is None else row.key


def _create(session: Session, bucket: str) -> None:
    # The day only: made at intake, an exact time would date the month's first tip.
    today = utcnow().replace(hour=0, minute=0, second=0, microsecond=0)
    values = {"bucket": bucket, "key": secrets.token_bytes(KEY_SIZE), "created_at": today}
    dialect = session.get_bind().dialect.name
    insert = pg_insert if dialect == "postgresql" else sqlite_insert
    session.execute(insert(RetentionKey).values(values).on_conflict_do_nothing())


def _held(bucket: str) -> Select[RetentionKey]:
    query = select(RetentionKey).where(RetentionKey.bucket == bucket)
    return query.with_for_update(key_share=True).execution_options(populate_existing=True)


def held_key(session: Session, bucket: str) -> bytes | None:
    """The key of `bucket` held against destruction until the transaction ends (None when
    there is none). Reads only: no write lock on SQLite."""
    row = session.scalar(_held(bucket))
    return None if row is None else row.key


def key_for_writing(session: Session, bucket: str) -> tuple[bytes, bool]:
    """(The key of `bucket`, whether it was created now), held against destruction until the
    transaction ends. A new key must reach the keyring escrow (the worker rewrites it)."""
    key = held_key(session, bucket)
    if key is not None:
        return key, False
    _create(session, bucket)
    row = session.scalar(_held(bucket))
    if row is None:  # pragma: no cover - destroyed between the two statements
        raise RuntimeError(f"bucket key {bucket} vanished while being created")
    return row.key, True


def lock_key(session: Session, bucket: str) -> RetentionKey | None:
    """The key row, locked for replacement (waits for writers sealing under it)."""
    return lock_rows(session, select(RetentionKey).where(RetentionKey.bucket == bucket)).scalar()


def envelopes_in(bucket: str) -> Select[Envelope]:
    return (
        select(Envelope).where(Envelope.bucket == bucket).order_by(Envelope.tip_id, Envelope.kind)
    )


def tip_buckets(session: Session, tip_id: uuid.UUID) -> set[str]:
    return set(session.scalars(select(Envelope.bucket).where(Envelope.tip_id == tip_id)))


def bucket_names(session: Session) -> list[str]:
    return list(session.scalars(select(RetentionKey.bucket).order_by(RetentionKey.bucket)))
