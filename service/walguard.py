"""A bounded SQLite write-ahead log: its size, the checkpoint that resets it, and its limits.

Under a steady stream of writers a PASSIVE checkpoint copies frames into the database but never
resets the WAL: a reset needs a moment when everything is copied and no transaction is open, and
a flood leaves none, so the file grows for as long as the flood lasts (31 MiB/s at 235 tips/s).
`truncate_wal` runs TRUNCATE checkpoints: one takes the write lock, copies the rest, and when no
reader is left on an older snapshot truncates the file to zero bytes. An attempt that cannot have
the write lock copies what it can without it (as PASSIVE does); attempts repeat every millisecond
for at most `checkpoint_wait_ms`. Commits and checkpoints still sync (`synchronous=FULL`): nothing
committed is lost.

What can block it: a writer that keeps the write lock (a submission whose attachments are still
streaming in) or a reader in an open transaction (a backup tool). Then the WAL may reach the hard
limit, where intake waits (routes/walpressure.py). The size is an `os.stat` of `<db>-wal`, which
every server process on the same file sees, so several `probity serve` workers need no
coordination beyond SQLite's own locks (a second concurrent checkpoint returns at once).

PostgreSQL manages its own WAL (`max_wal_size`): there is no guard there.

Imports the standard library, SQLAlchemy and service.config.
"""

from __future__ import annotations

import os
import time
from dataclasses import dataclass
from pathlib import Path

from sqlalchemy import Engine

from service.config import WalSettings

__all__ = ["WalGuard", "truncate_wal", "truncate_wal_within", "wal_guard"]

MIB = 1 << 20
_RETRY_SECONDS = 0.001


@dataclass(frozen=True)
class WalGuard:
    """The WAL file of one SQLite database and the limits it is held to (bytes)."""

    wal_path: Path
    soft_limit: int
    hard_limit: int
    check_seconds: float
    checkpoint_wait_ms: int
    intake_wait_seconds: float

    def size(self) -> int:
        try:
            return os.stat(self.wal_path).st_size
        except FileNotFoundError:
            return 0  # no WAL yet, or the last connection closed and removed it

    def over_soft_limit(self) -> bool:
        return self.size() > self.soft_limit

    def over_hard_limit(self) -> bool:
        return self.size() > self.hard_limit


def wal_guard(engine: Engine, settings: WalSettings) -> WalGuard | None:
    """The guard for a file-backed SQLite engine; None for PostgreSQL or an in-memory database."""
    url = engine.url
    if url.get_backend_name() != "sqlite" or not url.database or url.database == ":memory:":
        return None
    soft = int(settings.soft_limit_mib * MIB)
    return WalGuard(
        wal_path=Path(url.database + "-wal"),
        soft_limit=soft,
        hard_limit=max(soft, int(settings.hard_limit_mib * MIB)),
        check_seconds=settings.check_seconds,
        checkpoint_wait_ms=settings.checkpoint_wait_ms,
        intake_wait_seconds=settings.intake_wait_seconds,
    )


def truncate_wal(engine: Engine, guard: WalGuard) -> bool:
    """Copy the WAL into the database and truncate it; False when writers or readers kept it
    busy for the guard's `checkpoint_wait_ms` (the copy then went as far as it could)."""
    return truncate_wal_within(engine, guard.checkpoint_wait_ms / 1000)


def truncate_wal_within(engine: Engine, seconds: float) -> bool:
    """A TRUNCATE checkpoint, retried for at most `seconds`; False if still busy then."""
    deadline = time.monotonic() + seconds
    with engine.connect() as connection:
        usual = connection.exec_driver_sql("PRAGMA busy_timeout").scalar_one()
        # Our own short retries instead of SQLite's busy handler, whose sleeps grow to 100 ms:
        # writers polling for the lock would win it over and over. An attempt held up by a
        # reader lets go of the write lock at once rather than stalling every writer meanwhile.
        connection.exec_driver_sql("PRAGMA busy_timeout=0")
        try:
            while True:
                busy = connection.exec_driver_sql("PRAGMA wal_checkpoint(TRUNCATE)").one()[0]
                if not busy or time.monotonic() >= deadline:
                    return not busy
                time.sleep(_RETRY_SECONDS)
        finally:
            connection.exec_driver_sql(f"PRAGMA busy_timeout={int(usual)}")
