"""A streaming PNG chunk filter that drops metadata with bounded memory, for any file size.

Kept: every critical chunk (IHDR, PLTE, IDAT, IEND: upper-case first letter) and an allowlist of
ancillary chunks that describe how to render pixels (colour: iCCP, sRGB, gAMA, cHRM, cICP, mDCV,
cLLI, sBIT; tRNS, bKGD, hIST, pHYs, sPLT; APNG animation: acTL, fcTL, fdAT). Dropped: tEXt, zTXt
and iTXt (author, comments, software, XMP), eXIf, tIME, every other ancillary chunk (private chunks
such as caBX content credentials name people too), and zero padding after IEND.

Only chunk headers (8 bytes) are buffered; chunk data streams through or is skipped. The file
counts as cleaned only if it reaches IEND with nothing but padding after it: a truncated or broken
file makes the report `unreadable`, and the caller stores the original instead.

Imports only the standard library.
"""

from __future__ import annotations

from service.evidence.streaming import StreamingFilter

__all__ = ["SIGNATURE", "PngFilter"]

SIGNATURE = b"\x89PNG\r\n\x1a\n"
_SIG, _HEADER, _BODY, _DONE, _PASS = range(5)
_MAX_LENGTH = (1 << 31) - 1
_KEEP_ANCILLARY = frozenset(
    {
        b"iCCP",
        b"sRGB",
        b"gAMA",
        b"cHRM",
        b"cICP",
        b"mDCV",
        b"mDCv",
        b"cLLI",
        b"cLLi",
        b"sBIT",
        b"tRNS",
        b"bKGD",
        b"hIST",
        b"pHYs",
        b"sPLT",
        b"acTL",
        b"fcTL",
        b"fdAT",
    }
)
_CODES = {
    b"tEXt": "text_chunks",
    b"zTXt": "text_chunks",
    b"iTXt": "text_chunks",
    b"eXIf": "exif",
    b"tIME": "timestamp",
}


class PngFilter(StreamingFilter):
    """Sanitiser for PNG (see the module docstring); checks the signature itself."""

    kind = "png"

    def __init__(self) -> None:
        super().__init__(_SIG)
        self._remaining = 0  # bytes of the current chunk's data and CRC still to come
        self._keep = True
        self._last = False  # the current chunk is IEND

    def finish(self) -> bytes:
        rest = bytes(self._buf)
        self._buf.clear()
        self._complete = self._state == _DONE
        if self._complete:
            return b""
        self._failed = True  # truncated: the caller keeps the original
        return rest

    def _step(self, pos: int, out: bytearray) -> int:
        buf = self._buf
        if self._state == _SIG:
            if len(buf) - pos < len(SIGNATURE):
                return pos
            if buf[pos : pos + len(SIGNATURE)] != SIGNATURE:
                return self._fail(pos)
            out += SIGNATURE
            self._state = _HEADER
            return pos + len(SIGNATURE)
        if self._state == _HEADER:
            return self._header(pos, out)
        if self._state == _BODY:
            take = min(self._remaining, len(buf) - pos)
            if self._keep:
                out += buf[pos : pos + take]
            self._remaining -= take
            if self._remaining == 0:
                self._state = _DONE if self._last else _HEADER
            return pos + take
        if self._state == _PASS:
            out += buf[pos:]
        elif buf[pos:].strip(b"\x00"):
            return self._fail(pos)  # something after IEND: not ours to drop
        elif pos < len(buf):
            self._removed["trailing_data"] = None
        return len(buf)

    def _header(self, pos: int, out: bytearray) -> int:
        buf = self._buf
        if len(buf) - pos < 8:
            return pos
        length = int.from_bytes(buf[pos : pos + 4], "big")
        kind = bytes(buf[pos + 4 : pos + 8])
        if length > _MAX_LENGTH or not kind.isalpha() or not kind.isascii():
            return self._fail(pos)
        critical = not kind[0] & 0x20
        self._keep = critical or kind in _KEEP_ANCILLARY
        if self._keep:
            out += buf[pos : pos + 8]
        else:
            self._removed[_CODES.get(kind, "private_chunks")] = None
        self._remaining = length + 4  # data and CRC
        self._last = kind == b"IEND"
        self._state = _BODY
        return pos + 8

    def _fail(self, pos: int) -> int:
        self._failed = True
        self._state = _PASS
        return pos
