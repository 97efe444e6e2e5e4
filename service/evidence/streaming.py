"""The shared loop of the streaming image filters: buffer what arrived, step a small state
machine over it until it needs more input, and report what was removed."""

from __future__ import annotations

from service.evidence.report import UNREADABLE, CleanReport

__all__ = ["StreamingFilter"]


class StreamingFilter:
    """Subclasses set `kind` and `_state`, and implement `_step` and `finish`."""

    kind = "other"

    def __init__(self, state: int) -> None:
        self._buf = bytearray()
        self._state = state
        self._removed: dict[str, None] = {}  # an ordered set of removal codes
        self._failed = False

    @property
    def report(self) -> CleanReport:
        return CleanReport(
            kind=self.kind,
            removed=tuple(self._removed),
            cleaned=not self._failed,
            reason=UNREADABLE if self._failed else None,
        )

    def feed(self, data: bytes) -> bytes:
        self._buf += data
        out = bytearray()
        pos = 0
        while True:
            state = self._state
            new_pos = self._step(pos, out)
            if new_pos == pos and state == self._state:
                break  # needs more input
            pos = new_pos
        del self._buf[:pos]
        return bytes(out)

    def _step(self, pos: int, out: bytearray) -> int:
        """Consume from `self._buf[pos:]` into `out`; return the new position."""
        raise NotImplementedError

    def finish(self) -> bytes:
        raise NotImplementedError
