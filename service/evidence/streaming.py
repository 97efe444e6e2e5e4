"""The shared loop of the streaming image filters: buffer what arrived, step a small state
machine over it until it needs more input, and report what was removed.

A filter reports `cleaned` only when the file's structure ran to its end (JPEG's EOI, PNG's
IEND); a truncated or broken file is `unreadable`. `StreamGuard` runs a filter so that what is
stored is either its complete output or the original, byte for byte."""

from __future__ import annotations

from service.evidence.report import UNREADABLE, CleanReport

__all__ = ["StreamGuard", "StreamingFilter"]


class StreamingFilter:
    """Subclasses set `kind` and `_state`, and implement `_step` and `finish`."""

    kind = "other"

    def __init__(self, state: int) -> None:
        self._buf = bytearray()
        self._state = state
        self._removed: dict[str, None] = {}  # an ordered set of removal codes
        self._failed = False
        self._complete = False  # set by `finish()` when the structure ended properly

    @property
    def report(self) -> CleanReport:
        return CleanReport(
            kind=self.kind,
            removed=tuple(self._removed) if self._cleaned else (),
            cleaned=self._cleaned,
            reason=None if self._cleaned else UNREADABLE,
        )

    @property
    def _cleaned(self) -> bool:
        return self._complete and not self._failed

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


class StreamGuard:
    """Runs a streaming filter without ever letting a partial output out.

    Up to `max_in_memory` bytes, input and output are both held: `finish()` returns the cleaned
    file, or the original if the filter failed. A larger file streams, and from then on its input
    is also handed out by `take_original()`, which the caller must call after every `feed()` and
    after `finish()` and store beside the output; it keeps that copy instead of the output when
    the report is not `cleaned`.
    """

    def __init__(self, inner: StreamingFilter, max_in_memory: int) -> None:
        self._inner = inner
        self._max = max_in_memory
        self._input = bytearray()
        self._output = bytearray()
        self._streaming = False

    @property
    def report(self) -> CleanReport:
        return self._inner.report

    def feed(self, data: bytes) -> bytes:
        out = self._inner.feed(data)
        self._input += data
        if self._streaming:
            return out
        self._output += out
        if len(self._input) <= self._max:
            return b""
        self._streaming = True
        out, self._output = bytes(self._output), bytearray()
        return out

    def take_original(self) -> bytes:
        if not self._streaming:
            return b""
        data, self._input = bytes(self._input), bytearray()
        return data

    def finish(self) -> bytes:
        tail = self._inner.finish()
        if self._streaming:
            return tail
        held, self._input = bytes(self._input), bytearray()
        if self._inner.report.cleaned:
            return bytes(self._output) + tail
        return held
