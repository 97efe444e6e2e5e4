"""Destroying a bucket key, so that copies of a purged tip's envelopes open nothing.

A purge deletes the tip's envelopes, but copies of them stay where the database cannot reach:
dead tuples (PostgreSQL), freed pages and WAL, backups. They are sealed under their bucket's
key, so the key goes too: every other envelope of the bucket is re-sealed under a fresh key
(same bucket name, so writers waiting on the row see the new key: service.retention.repository)
and the old key is overwritten; a bucket with nothing left in it loses its row. After the commit
the key table is rewritten in full (`compact_key_table`), so no old key survives in its files,
and the keyring escrow is rewritten (service.retention.keyring) so that no copy outside does.
"""

from __future__ import annotations

import secrets
from datetime import date

from sqlalchemy import Engine
from sqlalchemy.exc import OperationalError
from sqlalchemy.orm import Session

from service.audit.log import record
from service.db import lock_rows, utcnow
from service.retention.buckets import BucketKey, next_month, open_bucket, seal_envelope, unseal
from service.retention.repository import KEY_SIZE, envelopes_in, lock_key
from service.walguard import truncate_wal_within

__all__ = ["COMPACT_WAIT_SECONDS", "compact_key_table", "destroy_bucket_key", "live_open_buckets"]

COMPACT_WAIT_SECONDS = 2.0  # how long one compaction retries while readers hold old pages


def live_open_buckets(today: date) -> frozenset[str]:
    """This month's and next month's intake buckets: kept (with a fresh key) even when empty."""
    return frozenset({open_bucket(today), open_bucket(next_month(today))})


def destroy_bucket_key(session: Session, bucket: str, *, today: date) -> bool:
    """Replace `bucket`'s key (re-sealing what is left in it) or delete it when nothing is left.
    Audited `retention.key_destroyed` (the bucket name only). False when there was no key."""
    row = lock_key(session, bucket)
    if row is None:
        return False
    envelopes = lock_rows(session, envelopes_in(bucket)).scalars().all()
    if envelopes or bucket in live_open_buckets(today):
        fresh = BucketKey(bucket, secrets.token_bytes(KEY_SIZE))
        for envelope in envelopes:
            # Raises if one does not open: better a failed job than an envelope nobody can open.
            age_file = unseal(row.key, envelope.tip_id, envelope.kind, bucket, envelope.data)
            envelope.data = seal_envelope(fresh, envelope.tip_id, envelope.kind, age_file)
        row.key = fresh.key
        row.created_at = utcnow()
    else:
        session.delete(row)
    session.flush()
    record(session, actor="system", action="retention.key_destroyed", details={"bucket": bucket})
    return True


def compact_key_table(engine: Engine, *, wait_seconds: float = COMPACT_WAIT_SECONDS) -> bool:
    """After the commit: rewrite the key table's storage so destroyed keys leave no trace in it.
    PostgreSQL: VACUUM FULL (outside a transaction) writes a new file with the live rows only.
    SQLite: `secure_delete` (every connection, service.db) zeroed the freed cells; a TRUNCATE
    checkpoint moves that into the database file and empties the WAL. A reader still on an
    older snapshot (SQLite), or a writer holding a key row longer than `wait_seconds`
    (PostgreSQL), keeps the old key in the files: False then, and the caller tries again later
    (service.retention.sweep). Neither waits long: writers queue behind a waiting compaction."""
    if engine.dialect.name == "postgresql":
        return _vacuum_full(engine, wait_seconds)
    # Short retries that never hold the write lock while a reader stays (service.walguard).
    return truncate_wal_within(engine, wait_seconds)


def _vacuum_full(engine: Engine, wait_seconds: float) -> bool:
    with engine.connect().execution_options(isolation_level="AUTOCOMMIT") as connection:
        connection.exec_driver_sql(f"SET lock_timeout = {max(1, int(wait_seconds * 1000))}")
        try:
            connection.exec_driver_sql("VACUUM FULL retention_keys")
        except OperationalError:  # lock_timeout: a writer holds a key row
            return False
        finally:
            connection.exec_driver_sql("RESET lock_timeout")
    return True
