"""A full disk: telling it from other database failures, reporting it, and recovering by itself.

- `is_storage_full(exc)`: SQLite's SQLITE_FULL ("database or disk is full") or PostgreSQL's
  SQLSTATE 53100 (disk_full).
- `StorageWatch`, one per engine (`watch_engine`, `watch_of`): remembers that a write failed for
  lack of space (any statement on the engine, through SQLAlchemy's `handle_error` event) until a
  write commits again or the space is measurably back; measures free space on the filesystem
  holding the SQLite database; keeps a reserve ("ballast") file there that `recover` deletes when a
  WAL checkpoint cannot finish for lack of space, so the WAL is copied into the database and
  truncated without waiting for an operator. `problems()` feeds `/readyz`.

See docs/operations.md, "Disk full". Imports SQLAlchemy, `service.config`, `service.errors` and
`service.logging`.
"""

from __future__ import annotations

import os
import time
import weakref
from pathlib import Path
from typing import Any

from sqlalchemy import Engine, event
from sqlalchemy.engine import ExceptionContext, make_url
from sqlalchemy.exc import DBAPIError, SQLAlchemyError
from sqlalchemy.orm import Session, sessionmaker

from service.config import Settings
from service.logging import get_logger

__all__ = [
    "BALLAST_FILE",
    "STORAGE_FULL",
    "StorageWatch",
    "is_busy",
    "is_storage_full",
    "watch_engine",
    "watch_of",
]

STORAGE_FULL = "the server's storage is full; nothing was stored; please try again later"
BUSY = "the database is busy; nothing was stored; please retry shortly"

BALLAST_FILE = "storage-reserve"
MIB = 1 << 20
# Measured space that clears a "write failed" mark without waiting for a successful write.
_CLEAR_BYTES = 1 * MIB
_CLEAR_PAGES = 256
_RETRY_UNMEASURED = 30.0  # seconds
_WROTE = "probity.storage_wrote"  # key in a session's `info`: it flushed something
_log = get_logger("probity.storage")
_WATCHES: weakref.WeakKeyDictionary[Engine, StorageWatch] = weakref.WeakKeyDictionary()


def is_storage_full(exc: BaseException) -> bool:
    """The database refused a write for lack of space (SQLite or PostgreSQL)."""
    # Error codes only, never message text: a message can quote what a client sent.
    orig = exc.orig if isinstance(exc, DBAPIError) else exc
    if getattr(orig, "sqlite_errorname", "") == "SQLITE_FULL":
        return True
    return getattr(orig, "sqlstate", "") == "53100"


def is_busy(exc: BaseException) -> bool:
    """SQLite gave up waiting for its write lock."""
    orig = exc.orig if isinstance(exc, DBAPIError) else exc
    return str(getattr(orig, "sqlite_errorname", "")).startswith(("SQLITE_BUSY", "SQLITE_LOCKED"))


def _is_io_error(exc: BaseException) -> bool:
    orig = exc.orig if isinstance(exc, DBAPIError) else exc
    return str(getattr(orig, "sqlite_errorname", "")).startswith("SQLITE_IOERR")


class StorageWatch:
    """What this process knows about the space left for the database (see the module doc)."""

    def __init__(self, engine: Engine, settings: Settings) -> None:
        self.engine = engine
        self.reserve = settings.storage_reserve_mb * MIB
        self.ballast_size = settings.storage_ballast_mb * MIB
        database = make_url(engine.url).database if engine.dialect.name == "sqlite" else None
        file_based = bool(database) and database != ":memory:"
        self.directory = Path(database).resolve().parent if file_based and database else None
        self.ballast = self.directory / BALLAST_FILE if self.directory else None
        self._full_since: float | None = None

    # -- what requests learn ------------------------------------------------------------------

    @property
    def full(self) -> bool:
        """A write failed for lack of space and nothing since shows the space is back."""
        return self._full_since is not None

    def refuses_writes(self) -> bool:
        """Still full, measured now: a submission gets 507 at once instead of queueing behind
        writers that will fail too."""
        self._clear_if_space_back()
        return self.full

    def note_full(self) -> None:
        if self._full_since is None:
            self._full_since = time.monotonic()
            _log.warning("storage_full", action="storage.full")

    def note_space(self) -> None:
        if self._full_since is not None:
            self._full_since = None
            _log.info("storage_space_back", action="storage.space_back")

    def explains(self, exc: BaseException) -> bool:
        """`exc` is (or, while storage is known to be full, is most likely) a full disk: a
        busy timeout behind a writer that failed, or an I/O error on a nearly full disk."""
        if is_storage_full(exc):
            return True
        if _is_io_error(exc):
            free = self.free_bytes()
            return free is not None and free < _CLEAR_BYTES
        return self.full and is_busy(exc)

    # -- measurements -------------------------------------------------------------------------

    def free_bytes(self) -> int | None:
        """Free space for the database's files; None when not on a local file (PostgreSQL)."""
        if self.directory is None:
            return None
        try:
            stat = os.statvfs(self.directory)
        except OSError:
            return None
        return stat.f_bavail * stat.f_frsize

    def free_pages(self) -> int | None:
        """Pages SQLite may still use before its own limit (`PRAGMA max_page_count`)."""
        if self.engine.dialect.name != "sqlite":
            return None
        with self.engine.connect() as connection:
            pragma = connection.exec_driver_sql
            limit = pragma("PRAGMA max_page_count").scalar_one()
            used = pragma("PRAGMA page_count").scalar_one()
            unused = pragma("PRAGMA freelist_count").scalar_one()
        return int(limit) - int(used) + int(unused)

    def problems(self) -> list[str]:
        """Reasons for `/readyz`; empty when there is room."""
        self._clear_if_space_back()
        found: list[str] = []
        free = self.free_bytes()
        if self.full:
            found.append("storage full: a write failed for lack of space (see docs/operations.md)")
        if free is not None and free < self.reserve:
            found.append(
                f"storage low: {free // MIB} MiB free for the database, below the reserve "
                f"of {self.reserve // MIB} MiB"
            )
        return found

    def _clear_if_space_back(self) -> None:
        if self._full_since is None:
            return
        free = self.free_bytes()
        try:
            pages = self.free_pages()
        except SQLAlchemyError:
            return
        if free is None and pages is None:
            # Nothing to measure (PostgreSQL): try writes again after a while.
            if time.monotonic() - self._full_since >= _RETRY_UNMEASURED:
                self.note_space()
        elif (free is None or free >= _CLEAR_BYTES) and (pages is None or pages >= _CLEAR_PAGES):
            self.note_space()

    # -- recovery -----------------------------------------------------------------------------

    def recover(self) -> None:
        """Run by the server every few seconds (SQLite): once a write failed for lack of space,
        copy the WAL into the database and truncate it, releasing the reserve file if that is
        what it takes; put the reserve back once there is room for it and more."""
        if self.full:
            self._checkpoint_truncate()
            self._clear_if_space_back()
        self.restore_ballast()

    def _checkpoint_truncate(self) -> None:
        try:
            if self._truncate():
                return
        except SQLAlchemyError as exc:
            if not is_storage_full(exc):
                return  # busy: the next round tries again
        if self.release_ballast():
            try:
                self._truncate()
            except SQLAlchemyError:
                return

    def _truncate(self) -> bool:
        """True when the whole WAL was copied into the database and the WAL truncated."""
        with self.engine.connect() as connection:
            row = connection.exec_driver_sql("PRAGMA wal_checkpoint(TRUNCATE)").one()
        busy, _log_frames, _done = row
        return int(busy) == 0

    def release_ballast(self) -> bool:
        if self.ballast is None or not self.ballast.exists():
            return False
        self.ballast.unlink(missing_ok=True)
        _log.warning("storage_reserve_released", action="storage.reserve_released")
        return True

    def restore_ballast(self) -> None:
        """Create the reserve file when it is missing and the disk has room for it twice over."""
        if self.ballast is None or self.ballast_size <= 0 or self.ballast.exists():
            return
        free = self.free_bytes()
        if free is None or free < 2 * self.ballast_size + self.reserve:
            return
        fd = os.open(self.ballast, os.O_WRONLY | os.O_CREAT, 0o600)
        try:
            os.posix_fallocate(fd, 0, self.ballast_size)
        except OSError:
            self.ballast.unlink(missing_ok=True)
        finally:
            os.close(fd)


def watch_engine(
    engine: Engine, settings: Settings, factory: sessionmaker[Session]
) -> StorageWatch:
    """Attach a `StorageWatch` to `engine`: every database error on it is looked at, and every
    session of `factory` that wrote and committed shows the space is there."""
    watch = StorageWatch(engine, settings)
    _WATCHES[engine] = watch

    def on_error(context: ExceptionContext) -> None:
        if context.original_exception is not None and watch.explains(context.original_exception):
            watch.note_full()

    def after_flush(session: Session, _context: Any) -> None:
        session.info[_WROTE] = True

    def after_commit(session: Session) -> None:
        if session.info.pop(_WROTE, False):
            watch.note_space()

    event.listen(engine, "handle_error", on_error)
    event.listen(factory, "after_flush", after_flush)
    event.listen(factory, "after_commit", after_commit)
    return watch


def watch_of(engine: Engine | None) -> StorageWatch | None:
    return _WATCHES.get(engine) if engine is not None else None
