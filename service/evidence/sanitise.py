"""`make_sanitiser`: pick a cleaner for an upload from its first bytes and run it as a stream.

The type comes from magic numbers, never from the file name or the client's content type. JPEG and
PNG are filtered as they stream (`streaming.StreamGuard`): up to `max_in_memory` bytes the output
is held until the file ends, beyond that the caller keeps a copy of the original too, so a damaged
file is stored as it came, never as a partial output. WebP, PDF and zip-based office documents need
the whole file: up to `max_in_memory` bytes are buffered and cleaned at `finish()`; a larger file
passes through unchanged (`too_large_to_clean`), as does a decompression bomb (`inflates_too_much`),
one that fails to parse (`unreadable`: the original is stored, and the reporter is told) or of any
other type (`unsupported_type`).

Imports the cleaners in this package and the standard library.
"""

from __future__ import annotations

from collections.abc import Callable

from service.evidence.filenames import sanitise_filename
from service.evidence.jpeg import JpegFilter
from service.evidence.office import NotOffice, clean_office, zip_kind
from service.evidence.pdf import clean_pdf
from service.evidence.png import SIGNATURE as PNG_SIGNATURE
from service.evidence.png import PngFilter
from service.evidence.report import (
    DISABLED,
    INFLATES_TOO_MUCH,
    TOO_LARGE,
    UNREADABLE,
    UNSUPPORTED,
    CleanReport,
    InflatesTooMuch,
    Sanitiser,
    TooLargeToClean,
)
from service.evidence.streaming import StreamGuard
from service.evidence.webp import clean_webp

__all__ = ["CleanReport", "Sanitiser", "detect_kind", "make_sanitiser", "sanitise_filename"]

_HEAD = 128  # enough to tell an ODF zip (its mimetype entry) from others
# (kind, cleaned file, removal codes) from a whole file; raises if it cannot.
_Cleaner = Callable[[bytes], tuple[str, bytes, tuple[str, ...]]]


def detect_kind(head: bytes) -> str:
    """jpeg, png, webp, pdf, ooxml, odf or other, from the first bytes of a file."""
    if head.startswith(b"\xff\xd8\xff"):
        return "jpeg"
    if head.startswith(PNG_SIGNATURE):
        return "png"
    if head[:4] == b"RIFF" and head[8:12] == b"WEBP":
        return "webp"
    if head.startswith(b"%PDF-"):
        return "pdf"
    return zip_kind(head)


def make_sanitiser(*, enabled: bool, max_in_memory: int) -> Sanitiser:
    """A fresh sanitiser for one file; `enabled=False` passes everything through."""
    return _Detecting(enabled=enabled, max_in_memory=max_in_memory)


class _PassThrough:
    def __init__(self, kind: str, reason: str) -> None:
        self.report = CleanReport(kind=kind, removed=(), cleaned=False, reason=reason)

    def feed(self, data: bytes) -> bytes:
        return data

    def finish(self) -> bytes:
        return b""

    def take_original(self) -> bytes:
        return b""


class _Buffered:
    """Collects the whole file up to a limit, then cleans it at `finish()`."""

    def __init__(self, kind: str, cleaner: _Cleaner, max_in_memory: int) -> None:
        self._kind = kind
        self._cleaner = cleaner
        self._max = max_in_memory
        self._buf: bytearray | None = bytearray()  # None once over the limit
        self.report = CleanReport(kind=kind, removed=(), cleaned=False, reason=None)

    def feed(self, data: bytes) -> bytes:
        if self._buf is None:
            return data
        self._buf += data
        if len(self._buf) <= self._max:
            return b""
        out, self._buf = bytes(self._buf), None
        self.report = CleanReport(kind=self._kind, removed=(), cleaned=False, reason=TOO_LARGE)
        return out

    def finish(self) -> bytes:
        if self._buf is None:
            return b""
        data, self._buf = bytes(self._buf), None
        try:
            kind, cleaned, removed = self._cleaner(data)
        except NotOffice:
            self.report = CleanReport(kind="other", removed=(), cleaned=False, reason=UNSUPPORTED)
            return data
        except TooLargeToClean:
            self.report = CleanReport(kind=self._kind, removed=(), cleaned=False, reason=TOO_LARGE)
            return data
        except InflatesTooMuch:
            self.report = CleanReport(
                kind=self._kind, removed=(), cleaned=False, reason=INFLATES_TOO_MUCH
            )
            return data
        except Exception:  # any parser failure: keep the evidence as it came, and say so
            self.report = CleanReport(kind=self._kind, removed=(), cleaned=False, reason=UNREADABLE)
            return data
        self.report = CleanReport(kind=kind, removed=removed, cleaned=True, reason=None)
        return cleaned

    def take_original(self) -> bytes:
        return b""  # the whole file is in memory: `finish()` returns the original itself


def _with_kind(kind: str, clean: Callable[[bytes], tuple[bytes, tuple[str, ...]]]) -> _Cleaner:
    def cleaner(data: bytes) -> tuple[str, bytes, tuple[str, ...]]:
        return (kind, *clean(data))

    return cleaner


class _Detecting:
    """Holds the first bytes until the type is known, then hands everything to the real cleaner."""

    def __init__(self, *, enabled: bool, max_in_memory: int) -> None:
        self._enabled = enabled
        self._max = max_in_memory
        self._head = bytearray()
        self._inner: Sanitiser | None = None

    @property
    def report(self) -> CleanReport:
        if self._inner is None:
            return CleanReport(kind="other", removed=(), cleaned=False, reason=None)
        return self._inner.report

    def feed(self, data: bytes) -> bytes:
        if self._inner is not None:
            return self._inner.feed(data)
        self._head += data
        if len(self._head) < _HEAD:
            return b""
        return self._start().feed(self._take_head())

    def finish(self) -> bytes:
        if self._inner is None:
            out = self._start().feed(self._take_head())
            return out + self._start().finish()
        return self._inner.finish()

    def take_original(self) -> bytes:
        return b"" if self._inner is None else self._inner.take_original()

    def _take_head(self) -> bytes:
        head, self._head = bytes(self._head), bytearray()
        return head

    def _start(self) -> Sanitiser:
        if self._inner is None:
            self._inner = self._choose(detect_kind(bytes(self._head)))
        return self._inner

    def _choose(self, kind: str) -> Sanitiser:
        if not self._enabled:
            return _PassThrough(kind, DISABLED)
        if kind == "jpeg":
            return StreamGuard(JpegFilter(), self._max)
        if kind == "png":
            return StreamGuard(PngFilter(), self._max)
        if kind == "webp":
            return _Buffered(kind, _with_kind(kind, clean_webp), self._max)
        if kind == "pdf":
            return _Buffered(kind, _with_kind(kind, clean_pdf), self._max)
        if kind in ("ooxml", "odf") or self._head.startswith(b"PK\x03\x04"):
            # Any zip is opened: its first entry does not always say what the package is.
            return _Buffered(kind, clean_office, self._max)
        return _PassThrough(kind, UNSUPPORTED)
