"""A small bound on concurrent password derivations (Argon2id is slow and memory-hungry).

A full pool refuses at once with `Unavailable` (503 + Retry-After) instead of queueing, so a login
flood cannot exhaust memory or starve intake. Used around staff login, password change and account
creation. Thread-safe; imports only the standard library and `service.errors`.
"""

from __future__ import annotations

import threading
from collections.abc import Iterator
from contextlib import contextmanager

from service.errors import Unavailable

__all__ = ["KdfPool"]


class KdfPool:
    def __init__(self, size: int) -> None:
        self.size = size
        self._slots = threading.BoundedSemaphore(size)

    @contextmanager
    def slot(self) -> Iterator[None]:
        if not self._slots.acquire(blocking=False):
            error = Unavailable("too many sign-ins at once; please retry in a few seconds")
            error.retry_after = 2
            raise error
        try:
            yield
        finally:
            self._slots.release()
