"""Which database errors mean "the database cannot serve now" (503), or "the disk is full" (507).

Lost, refused, terminated or timed-out connections, statement and lock timeouts, a session left
needing a rollback by such a failure, an exhausted pool, a read-only server after a failover:
the request did nothing lasting, and a retry may well succeed. Everything else (constraint
violations, SQL errors) is a bug or bad input, and stays what it is.

Imports SQLAlchemy and `service.errors`.
"""

from __future__ import annotations

from sqlalchemy.exc import (
    DBAPIError,
    DisconnectionError,
    InterfaceError,
    OperationalError,
    PendingRollbackError,
)
from sqlalchemy.exc import TimeoutError as PoolTimeout

from service.errors import InsufficientStorage, Unavailable

__all__ = ["NOTHING_STORED", "unavailable_error"]

NOTHING_STORED = "the database is not available; nothing was stored"
_READ_ONLY = "25006"  # read_only_sql_transaction: connected to a standby after a failover
_DISK_FULL = "53100"


def unavailable_error(exc: BaseException) -> Unavailable | InsufficientStorage | None:
    """The error to answer for `exc` if it is a database outage, else `None`."""
    if isinstance(exc, (PendingRollbackError, PoolTimeout, DisconnectionError)):
        return Unavailable(NOTHING_STORED)
    if not isinstance(exc, DBAPIError):
        return None
    sqlstate = getattr(exc.orig, "sqlstate", None)
    if sqlstate == _DISK_FULL or "disk is full" in str(exc.orig).lower():  # PostgreSQL, SQLite
        return InsufficientStorage("the server's storage is full; nothing was stored")
    if (
        exc.connection_invalidated
        or isinstance(exc, (OperationalError, InterfaceError))
        or sqlstate == _READ_ONLY
    ):
        return Unavailable(NOTHING_STORED)
    return None
