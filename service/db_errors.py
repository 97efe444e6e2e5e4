"""Which database errors mean "the database cannot serve now" (503), or "the disk is full" (507).

Lost, refused, terminated or timed-out connections, statement and lock timeouts, a session left
needing a rollback by such a failure, an exhausted pool, a read-only server after a failover:
the request did nothing lasting, and a retry may well succeed. Everything else (constraint
violations, SQL errors) is a bug or bad input, and stays what it is.

A full disk is told apart by `service.storage` (which also knows, per engine, that the disk filled
up: a lock wait behind a failed write is then "full" too). Imports SQLAlchemy, `service.errors`
and `service.storage`.
"""

from __future__ import annotations

from sqlalchemy import Engine
from sqlalchemy.exc import (
    DBAPIError,
    DisconnectionError,
    InterfaceError,
    OperationalError,
    PendingRollbackError,
)
from sqlalchemy.exc import TimeoutError as PoolTimeout

from service.errors import InsufficientStorage, Unavailable
from service.storage import BUSY, STORAGE_FULL, is_busy, is_storage_full, watch_of

__all__ = ["MAYBE_STORED", "NOTHING_STORED", "unavailable_error"]

NOTHING_STORED = "the database is not available; nothing was stored"
# A COMMIT whose answer was lost (PostgreSQL: the server may have committed before the network
# or the answer deadline failed): "nothing was stored" could be false, and a reporter who
# believed it would lose the only copy of their receipt.
MAYBE_STORED = (
    "the database stopped answering while this was being stored, so it may have been stored: "
    "send it again with the same Idempotency-Key (or the same form) to get its receipt"
)
_READ_ONLY = "25006"  # read_only_sql_transaction: connected to a standby after a failover


def unavailable_error(
    exc: BaseException, engine: Engine | None = None, *, committing: bool = False
) -> Unavailable | InsufficientStorage | None:
    """The error to answer for `exc` (raised on `engine`) if it is a database outage or a full
    disk, else `None`. `committing`: `exc` came from the COMMIT, whose outcome is then unknown."""
    if isinstance(exc, (PendingRollbackError, PoolTimeout, DisconnectionError)):
        return Unavailable(NOTHING_STORED)
    error = _database_error(exc, engine)
    if committing and isinstance(error, Unavailable) and error.detail != BUSY:
        return Unavailable(MAYBE_STORED)
    return error


def _database_error(
    exc: BaseException, engine: Engine | None
) -> Unavailable | InsufficientStorage | None:
    if not isinstance(exc, DBAPIError):
        return None
    watch = watch_of(engine)
    if watch.explains(exc) if watch is not None else is_storage_full(exc):
        return InsufficientStorage(STORAGE_FULL)
    if (
        exc.connection_invalidated
        or isinstance(exc, (OperationalError, InterfaceError))
        or getattr(exc.orig, "sqlstate", None) == _READ_ONLY
    ):
        return Unavailable(BUSY if is_busy(exc) else NOTHING_STORED)
    return None
