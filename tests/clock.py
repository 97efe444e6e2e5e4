"""A clock tests can move: the real UTC time plus an offset that only grows.

Apps under test get it through `Settings.clock`, so a test that needs the next TOTP step (or an
older session) moves time forward instead of sleeping on the real clock.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

__all__ = ["MovableClock"]


class MovableClock:
    def __init__(self) -> None:
        self.offset = timedelta()

    def __call__(self) -> datetime:
        return datetime.now(UTC) + self.offset

    def advance(self, by: timedelta) -> None:
        if by < timedelta():
            raise ValueError("a test clock never goes back")
        self.offset += by
