"""Time limits for PostgreSQL connections, so a dead or stalled database fails fast.

Server-side limits (`statement_timeout`, `lock_timeout`, `idle_in_transaction_session_timeout`)
and libpq's `connect_timeout`, TCP keepalives and `tcp_user_timeout` are plain connection
parameters (`connect_args`). None of them helps when the network silently stops delivering: a hung
load balancer or a stale NAT entry accepts our bytes and answers nothing, so the server never sees
the statement and the kernel never sees a lost packet. libpq, psycopg and SQLAlchemy have no
per-call deadline, hence the hand-rolled part here: `DeadlineConnection` registers each of its
blocking network waits with a watchdog thread, which shuts down the connection's socket once the
wait has lasted `answer_timeout_seconds`. The blocked call then fails at once with psycopg's
`OperationalError`, and SQLAlchemy, seeing a broken connection, discards it from the pool.

PostgreSQL only; imports psycopg, SQLAlchemy and `service.config`.
"""

from __future__ import annotations

import itertools
import os
import socket
import threading
import time
from collections.abc import Iterator, Mapping
from contextlib import contextmanager, suppress
from dataclasses import dataclass
from typing import Any, TypeVar

import psycopg
from psycopg.abc import PQGen
from sqlalchemy import Engine, event

from service.config import DatabaseSettings

__all__ = ["DeadlineConnection", "connect_args", "install_deadline", "shorter_deadline"]

RV = TypeVar("RV")

# A dead peer is noticed on an idle connection within 10 + 3 * 5 = 25 s of keepalives.
_KEEPALIVES = {"keepalives": 1, "keepalives_idle": 10, "keepalives_interval": 5}
_KEEPALIVE_COUNT = 3
_TICK = 0.1  # seconds; how late past its deadline a stalled call may be abandoned
_IDLE_TICKS = 50  # the watchdog sleeps after this many ticks without a wait


def _ms(seconds: float) -> int:
    return max(1, round(seconds * 1000))


def connect_args(db: DatabaseSettings, url_query: Mapping[str, Any]) -> dict[str, Any]:
    """libpq parameters for `db`'s limits. Parameters the database URL sets itself win, except
    `options`, which are kept and extended."""
    limits = (
        f"-c statement_timeout={_ms(db.statement_timeout_seconds)} "
        f"-c lock_timeout={_ms(db.lock_timeout_seconds)} "
        f"-c idle_in_transaction_session_timeout={_ms(db.idle_in_transaction_timeout_seconds)}"
    )
    given = url_query.get("options")
    args: dict[str, Any] = {
        **_KEEPALIVES,
        "keepalives_count": _KEEPALIVE_COUNT,
        "connect_timeout": db.connect_timeout_seconds,
        # Sent data unacknowledged this long: the peer is gone.
        "tcp_user_timeout": _ms(db.answer_timeout_seconds),
    }
    args = {name: value for name, value in args.items() if name not in url_query}
    args["options"] = f"{given} {limits}" if isinstance(given, str) and given else limits
    return args


@dataclass
class _Wait:
    deadline: float
    fd: int
    abandoned: bool = False  # set by the watchdog when it shut the socket down


class _Watchdog:
    """One thread per process. It checks the waits every `_TICK` while the database is in use,
    and sleeps once nothing waited for a while, so a busy server never wakes it per call."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._wake = threading.Condition(self._lock)
        self._waits: dict[int, _Wait] = {}
        self._numbers = itertools.count()
        self._thread: threading.Thread | None = None
        self._asleep = False

    @contextmanager
    def watch(self, fd: int, seconds: float) -> Iterator[_Wait]:
        """Bound the block's wait on the socket `fd` to `seconds`."""
        number = next(self._numbers)
        wait = _Wait(time.monotonic() + seconds, fd)
        with self._lock:
            self._waits[number] = wait
            if self._thread is None:
                self._thread = threading.Thread(target=self._run, name="pg-deadline", daemon=True)
                self._thread.start()
            elif self._asleep:
                self._wake.notify()
        try:
            yield wait
        finally:
            with self._lock:
                self._waits.pop(number, None)

    def _run(self) -> None:
        idle = 0
        with self._lock:
            while True:
                idle = 0 if self._waits else idle + 1
                if idle > _IDLE_TICKS:
                    self._asleep = True
                    while not self._waits:
                        self._wake.wait()
                    self._asleep, idle = False, 0
                now = time.monotonic()
                for number, wait in list(self._waits.items()):
                    if now >= wait.deadline:
                        del self._waits[number]
                        wait.abandoned = True
                        _shut_down(wait.fd)
                self._wake.wait(_TICK)


def _shut_down(fd: int) -> None:
    # On a duplicate of the descriptor: psycopg still owns, and will close, the original.
    with suppress(OSError), socket.socket(fileno=os.dup(fd)) as sock:
        sock.shutdown(socket.SHUT_RDWR)


_WATCHDOG = _Watchdog()


class DeadlineConnection(psycopg.Connection[Any]):
    """psycopg's connection, abandoning any network wait longer than `answer_timeout`."""

    answer_timeout: float | None = None

    def wait(self, gen: PQGen[RV], *args: Any, **kwargs: Any) -> RV:
        # Every blocking call (execute, fetch, commit, pipeline sync) waits here.
        seconds = self.answer_timeout
        if seconds is None:
            return super().wait(gen, *args, **kwargs)
        with _WATCHDOG.watch(self.pgconn.socket, seconds) as wait:
            try:
                return super().wait(gen, *args, **kwargs)
            except psycopg.OperationalError as exc:
                if wait.abandoned:
                    raise psycopg.OperationalError(
                        f"the database did not answer within {seconds:g} s"
                    ) from exc
                raise


@contextmanager
def shorter_deadline(dbapi_connection: Any, seconds: float) -> Iterator[None]:
    """Within the block, `dbapi_connection` (if a `DeadlineConnection`) gives up after at most
    `seconds`: for a ping, which has no reason to take long."""
    if not isinstance(dbapi_connection, DeadlineConnection):
        yield
        return
    saved = dbapi_connection.answer_timeout
    dbapi_connection.answer_timeout = min(saved or seconds, seconds)
    try:
        yield
    finally:
        dbapi_connection.answer_timeout = saved


def install_deadline(engine: Engine, answer_timeout: float) -> None:
    """Make `engine`'s new connections `DeadlineConnection`s with `answer_timeout`."""

    def connect(_dialect: Any, _record: Any, cargs: Any, cparams: Any) -> DeadlineConnection:
        connection = DeadlineConnection.connect(*cargs, **cparams)
        connection.answer_timeout = answer_timeout
        return connection

    event.listen(engine, "do_connect", connect)
