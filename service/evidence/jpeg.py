"""A streaming JPEG segment filter that drops metadata with bounded memory, for any file size.

Kept: every segment a decoder needs (SOFn, DHT, DQT, DRI, SOS and the scans), APP0 JFIF (minus
its optional thumbnail: a stale one can show what a crop removed), APP2 ICC_PROFILE and APP14 Adobe
(colour rendering; an ICC profile describes a device model, not a person). Dropped: APP1 EXIF
(camera make and serial numbers, times, GPS, an embedded thumbnail) and XMP, APP13 IPTC/Photoshop,
COM comments, APP0 JFXX thumbnails, APP2 MPF and every other APPn, and what follows EOI when it is
recognisably an embedded file (MPF secondary images, "motion photo" videos, each with its own
metadata) or padding. EXIF orientation goes with EXIF: a photo taken sideways may then display
sideways.

Segments are buffered whole (at most 64 KiB each) before they are judged; entropy-coded data is
scanned for the next marker and passed on. The file counts as cleaned only if it reaches EOI after
a scan: a truncated or broken file, or unknown bytes after EOI, make the report `unreadable`, and
the caller stores the original instead.

Imports only the standard library.
"""

from __future__ import annotations

import re
from typing import Literal

from service.evidence.streaming import StreamingFilter

__all__ = ["JpegFilter"]

_SEGMENTS, _SCAN, _DONE, _PASS = range(4)
_STANDALONE = frozenset({0x01, 0xD8, *range(0xD0, 0xD8)})  # TEM, SOI, RST0-7: no length field
_SOS, _EOI, _COM = 0xDA, 0xD9, 0xFE
# In scan data, FF 00 is a stuffed byte and FF D0-D7 a restart marker; any other FF starts a marker.
_SCAN_MARKER = re.compile(rb"\xff(?![\x00\xd0-\xd7])")
_EXIF = b"Exif\x00\x00"
_XMP = (b"http://ns.adobe.com/xap/1.0/\x00", b"http://ns.adobe.com/xmp/extension/\x00")
_GPS_IFD_TAG = 0x8825
_JFIF_SIZE = 14  # identifier, version, units, densities, thumbnail width and height
_PADDING = re.compile(rb"\x00*")
_TRAILER_HEAD = 16


def _known_trailer(head: bytes) -> bool:
    """An embedded JPEG (MPF), an MP4/QuickTime video (Google) or Samsung's motion photo."""
    return head.startswith((b"\xff\xd8\xff", b"MotionPhoto_Data")) or head[4:8] == b"ftyp"


def _exif_extras(tiff: bytes) -> tuple[str, ...]:
    """Whether the EXIF block has a GPS IFD and a thumbnail (IFD1), to tell the reporter."""
    order: Literal["little", "big"]
    if tiff[:2] == b"II":
        order = "little"
    elif tiff[:2] == b"MM":
        order = "big"
    else:
        return ()

    def number(at: int, size: int) -> int:
        return int.from_bytes(tiff[at : at + size] or b"\0", order)

    ifd0 = number(4, 4)
    count = number(ifd0, 2)
    found: list[str] = []
    for i in range(count):
        entry = ifd0 + 2 + 12 * i
        if entry + 12 <= len(tiff) and number(entry, 2) == _GPS_IFD_TAG:
            found.append("gps")
    if number(ifd0 + 2 + 12 * count, 4):  # offset of IFD1, the thumbnail's directory
        found.append("thumbnail")
    return tuple(found)


def _removal_codes(marker: int, payload: bytes) -> tuple[str, ...]:
    """What dropping this segment removes; empty when the segment is kept."""
    if marker == 0xE0:
        if payload.startswith(b"JFIF\x00"):  # kept, rewritten without its thumbnail if it has one
            return ("thumbnail",) if len(payload) > _JFIF_SIZE else ()
        return ("thumbnail",) if payload.startswith(b"JFXX\x00") else ("vendor_metadata",)
    if marker == 0xE1:
        if payload.startswith(_EXIF):
            return ("exif", *_exif_extras(payload[len(_EXIF) :]))
        return ("xmp",) if payload.startswith(_XMP) else ("vendor_metadata",)
    if marker == 0xE2:
        if payload.startswith(b"ICC_PROFILE\x00"):
            return ()
        return ("mpf",) if payload.startswith(b"MPF\x00") else ("vendor_metadata",)
    if marker == 0xED:
        return ("iptc",)
    if marker == 0xEE:
        return () if payload.startswith(b"Adobe") else ("vendor_metadata",)
    if 0xE3 <= marker <= 0xEF:
        return ("vendor_metadata",)
    return ("comment",) if marker == _COM else ()


def _jfif_without_thumbnail(payload: bytes) -> bytes | None:
    """APP0 JFIF cut to its fixed fields, with a 0x0 thumbnail."""
    if not payload.startswith(b"JFIF\x00") or len(payload) <= _JFIF_SIZE:
        return None
    fields = payload[: _JFIF_SIZE - 2] + b"\x00\x00"
    return b"\xff\xe0" + (len(fields) + 2).to_bytes(2, "big") + fields


class JpegFilter(StreamingFilter):
    """Sanitiser for JPEG (see the module docstring); the input must start with FF D8."""

    kind = "jpeg"

    def __init__(self) -> None:
        super().__init__(_SEGMENTS)
        self._started = False
        self._scanned = False  # a scan has started: EOI before one means a broken file
        self._trailer: bool | None = None  # bytes after EOI: None until judged

    def finish(self) -> bytes:
        rest = bytes(self._buf)
        self._buf.clear()
        if self._state == _DONE and self._trailer is None and rest.strip(b"\x00"):
            self._judge_trailer(rest.lstrip(b"\x00"))
        self._complete = self._state == _DONE
        if self._complete:
            return b""
        self._fail()  # truncated: the caller keeps the original
        return rest

    def _step(self, pos: int, out: bytearray) -> int:
        if self._state == _SEGMENTS:
            return self._segment(pos, out)
        if self._state == _SCAN:
            return self._scan(pos, out)
        if self._state == _PASS:
            out += self._buf[pos:]
            return len(self._buf)
        return self._after_end(pos)

    def _after_end(self, pos: int) -> int:
        """Bytes after EOI: padding goes; an embedded file goes whole; anything else fails."""
        buf = self._buf
        if self._trailer is None:
            match = _PADDING.match(buf, pos)
            pos = match.end() if match else pos
            if len(buf) - pos < _TRAILER_HEAD:
                return pos
            self._judge_trailer(bytes(buf[pos : pos + _TRAILER_HEAD]))
        return pos if self._state == _PASS else len(buf)

    def _judge_trailer(self, head: bytes) -> None:
        self._trailer = _known_trailer(head)
        if self._trailer:
            self._note(("trailing_data",))
        else:
            self._fail()

    def _segment(self, pos: int, out: bytearray) -> int:
        buf = self._buf
        if len(buf) - pos < 2:
            return pos
        if not self._started:
            if buf[pos : pos + 2] != b"\xff\xd8":
                return self._fail(pos)
            self._started = True
            out += buf[pos : pos + 2]
            return pos + 2
        if buf[pos] != 0xFF or buf[pos + 1] == 0x00:
            return self._fail(pos)  # stray bytes between segments: not ours to drop
        marker = buf[pos + 1]
        if marker == 0xFF:
            return pos + 1  # a fill byte
        if marker == _EOI and not self._scanned:
            return self._fail(pos)
        if marker in _STANDALONE or marker == _EOI:
            out += buf[pos : pos + 2]
            self._state = _DONE if marker == _EOI else _SEGMENTS
            return pos + 2
        if len(buf) - pos < 4:
            return pos
        length = int.from_bytes(buf[pos + 2 : pos + 4], "big")
        end = pos + 2 + length
        if length < 2:
            return self._fail(pos)
        if len(buf) < end:
            return pos
        payload = bytes(buf[pos + 4 : end])
        codes = _removal_codes(marker, payload)
        if codes:
            self._note(codes)
            if marker == 0xE0 and (jfif := _jfif_without_thumbnail(payload)) is not None:
                out += jfif
        else:
            out += buf[pos:end]
        if marker == _SOS:
            self._state = _SCAN
            self._scanned = True
        return end

    def _scan(self, pos: int, out: bytearray) -> int:
        match = _SCAN_MARKER.search(self._buf, pos)
        if match is None:
            out += self._buf[pos:]
            return len(self._buf)
        at = match.start()
        out += self._buf[pos:at]
        if at + 1 < len(self._buf):
            self._state = _SEGMENTS
        return at  # a trailing FF waits for the byte that says what it is

    def _fail(self, pos: int = 0) -> int:
        """Broken structure: pass the rest (from `pos`) through and say so; the caller keeps
        the original."""
        self._failed = True
        self._state = _PASS
        return pos

    def _note(self, codes: tuple[str, ...]) -> None:
        for code in codes:
            self._removed[code] = None
