"""WebP cleaning by RIFF chunk surgery, on a whole file in memory.

Kept: VP8, VP8L, VP8X, ALPH, ANIM, ANMF and ICCP, byte for byte. Dropped: EXIF and XMP chunks (their
VP8X flags are cleared and the RIFF size fixed), every unknown chunk, and zero padding after the
RIFF end; anything else after the end makes the file unreadable, and it is stored as it came.
Pixels are never decoded or re-encoded: re-saving with Pillow would recompress lossy images (losing
detail that may matter as evidence), and decoding untrusted pixels is what decompression bombs need.

Imports only the standard library.
"""

from __future__ import annotations

__all__ = ["clean_webp"]

_KEEP = frozenset({b"VP8 ", b"VP8L", b"VP8X", b"ALPH", b"ANIM", b"ANMF", b"ICCP"})
_CODES = {b"EXIF": "exif", b"XMP ": "xmp"}
_VP8X_EXIF, _VP8X_XMP = 0x08, 0x04


def clean_webp(data: bytes) -> tuple[bytes, tuple[str, ...]]:
    """The file without metadata chunks, and codes of what went; ValueError if it is not WebP."""
    if len(data) < 12 or data[:4] != b"RIFF" or data[8:12] != b"WEBP":
        raise ValueError("not a WebP file")
    end = 8 + int.from_bytes(data[4:8], "little")
    if end > len(data):
        raise ValueError("truncated WebP file")
    removed: dict[str, None] = {}
    if data[end:].strip(b"\x00"):
        raise ValueError("unknown data after the RIFF end")  # not ours to drop
    if end < len(data):
        removed["trailing_data"] = None
    chunks: list[bytes] = []
    pos = 12
    while pos < end:
        if pos + 8 > end:
            raise ValueError("truncated chunk header")
        fourcc = data[pos : pos + 4]
        size = int.from_bytes(data[pos + 4 : pos + 8], "little")
        chunk_end = pos + 8 + size + (size & 1)  # chunks are padded to even sizes
        if chunk_end > end:
            raise ValueError("chunk runs past the end of the file")
        if fourcc in _KEEP:
            chunk = data[pos:chunk_end]
            if fourcc == b"VP8X" and size >= 1:
                flags = chunk[8] & ~(_VP8X_EXIF | _VP8X_XMP)
                chunk = chunk[:8] + bytes([flags]) + chunk[9:]
            chunks.append(chunk)
        else:
            removed[_CODES.get(fourcc, "vendor_metadata")] = None
        pos = chunk_end
    body = b"".join(chunks)
    return b"RIFF" + (4 + len(body)).to_bytes(4, "little") + b"WEBP" + body, tuple(removed)
