"""Keeping SQLite's WAL bounded while the server runs, and holding intake back when it is not.

`keep_wal_bounded` is a lifespan task of every server process: it looks at the WAL's size every
`check_seconds` and truncates it past the soft limit (service/walguard.py), with a PASSIVE
checkpoint every couple of seconds in between, as before, and the disk-full recovery of
`service.storage` (truncate once there is room, releasing the reserve file if need be).
`wait_for_wal_room` is the back-pressure on every anonymous request that may write
(`hold_writes_for_wal`, a dependency of the reporter routers: tips, uploads, messages, receipt
sign-ins; staff are never held back by a stranger's flood): past the hard limit such a request
waits in the event loop (no thread, no write lock, no body read yet) until the WAL is back under
it, and after `intake_wait_seconds` gets 503 with Retry-After. Nothing already accepted is
affected.

May import `service`.
"""

from __future__ import annotations

import time

import anyio
from fastapi import Request
from sqlalchemy import Engine
from sqlalchemy.exc import SQLAlchemyError

from service.db import checkpoint
from service.errors import Unavailable
from service.storage import StorageWatch
from service.walguard import WalGuard, truncate_wal

__all__ = ["PASSIVE_EVERY_SECONDS", "hold_writes_for_wal", "keep_wal_bounded", "wait_for_wal_room"]

PASSIVE_EVERY_SECONDS = 2.0
_RETRY_AFTER = 2  # seconds: a checkpoint that can run at all takes well under that


async def keep_wal_bounded(
    engine: Engine, guard: WalGuard, storage: StorageWatch | None = None
) -> None:
    last_passive = time.monotonic()
    while True:
        await anyio.sleep(guard.check_seconds)
        try:
            if guard.over_soft_limit():
                # Not done when a reader or an upload held it: tried again next round, and
                # meanwhile the hard limit holds intake back.
                await anyio.to_thread.run_sync(truncate_wal, engine, guard)
                last_passive = time.monotonic()
            elif time.monotonic() - last_passive >= PASSIVE_EVERY_SECONDS:
                last_passive = time.monotonic()
                if storage is not None:
                    await anyio.to_thread.run_sync(storage.recover)  # after a full disk
                await anyio.to_thread.run_sync(checkpoint, engine)
        except (SQLAlchemyError, OSError):
            continue  # busy or briefly unavailable: the next round will do it


async def wait_for_wal_room(request: Request) -> None:
    """Return once the WAL is under its hard limit; 503 + Retry-After if that takes too long."""
    guard: WalGuard | None = getattr(request.app.state, "wal_guard", None)
    if guard is None or not guard.over_hard_limit():
        return
    deadline = time.monotonic() + guard.intake_wait_seconds
    while time.monotonic() < deadline:
        await anyio.sleep(guard.check_seconds)
        if not guard.over_hard_limit():
            return
    error = Unavailable("the server is busy storing earlier submissions; please retry shortly")
    error.retry_after = _RETRY_AFTER
    raise error


_READS = frozenset({"GET", "HEAD", "OPTIONS"})


async def hold_writes_for_wal(request: Request) -> None:
    """Reporter routers' dependency: a request that may write waits for WAL room (one `stat`)."""
    if request.method not in _READS:
        await wait_for_wal_room(request)
