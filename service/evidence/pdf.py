"""PDF cleaning with pikepdf (qpdf), on a whole file in memory.

Removed: the trailer's /Info dictionary (author, creator, producer, title, dates), the catalogue's
XMP /Metadata stream, /Metadata streams on pages, images and other objects, /PieceInfo (application
private data) and the original /ID (it can single out one copy of a document). Saving rewrites the
file, so earlier incremental revisions, which keep old metadata, are gone too. Content streams are
copied without being decoded, so a compressed stream is never inflated. Encrypted PDFs that need a
password cannot be opened and are reported as unreadable by the caller.

Imports pikepdf and the standard library.
"""

from __future__ import annotations

import io

import pikepdf

__all__ = ["clean_pdf"]

_OBJECT_KEYS = {"/Metadata": "object_metadata", "/PieceInfo": "piece_info"}


def clean_pdf(data: bytes) -> tuple[bytes, tuple[str, ...]]:
    """The cleaned PDF and codes of what went; pikepdf errors propagate for unreadable files."""
    removed: dict[str, None] = {}
    with pikepdf.open(io.BytesIO(data)) as pdf:
        info = pdf.trailer.get("/Info")
        if info is not None:
            if isinstance(info, pikepdf.Dictionary) and len(info.keys()) > 0:
                removed["document_info"] = None
            del pdf.trailer["/Info"]
        if "/ID" in pdf.trailer:
            # qpdf would keep the first half; deterministic_id derives a new one from the content.
            del pdf.trailer["/ID"]
        root = pdf.Root
        if "/Metadata" in root:
            del root["/Metadata"]
            removed["xmp_metadata"] = None
        for obj in pdf.objects:
            if not isinstance(obj, pikepdf.Dictionary | pikepdf.Stream):
                continue
            for key, code in _OBJECT_KEYS.items():
                if key in obj:
                    del obj[key]
                    removed[code] = None
        out = io.BytesIO()
        pdf.save(
            out,
            deterministic_id=True,
            stream_decode_level=pikepdf.StreamDecodeLevel.none,
        )
    return out.getvalue(), tuple(removed)
