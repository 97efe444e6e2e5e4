"""PDF cleaning with pikepdf (qpdf), on a whole file in memory.

Removed: the trailer's /Info dictionary (author, creator, producer, title, dates), the catalogue's
XMP /Metadata stream, /Metadata streams on pages, images and other objects, /PieceInfo (application
private data), the original /ID (it can single out one copy of a document), and the author (/T)
and dates (/M, /CreationDate) of annotations and their popups; the notes themselves stay, and so
does /T on form-field widgets, where it is the field's name. Saving rewrites the
file, so earlier incremental revisions, which keep old metadata, are gone too. Content streams are
copied without being decoded. Object and cross-reference streams must be decoded to read the file
at all, so they are first inflated here under a budget: a small file that would inflate to
gigabytes is stored as it came (InflatesTooMuch) instead of exhausting memory. Encrypted PDFs that
need a password cannot be opened and are reported as unreadable by the caller. So is a damaged
file: qpdf would rebuild a truncated or broken PDF from what it can find, a partial copy stored
as if it were the evidence, so recovery is off and any warning while reading or writing fails.

Imports pikepdf and the standard library.
"""

from __future__ import annotations

import io
import re
import zlib

import pikepdf

from service.evidence.report import InflatesTooMuch, TooLargeToClean

__all__ = ["clean_pdf"]

_OBJECT_KEYS = {"/Metadata": "object_metadata", "/PieceInfo": "piece_info"}
_ANNOTATION_KEYS = ("/T", "/M", "/CreationDate")


def _strip_annotation(obj: pikepdf.Dictionary | pikepdf.Stream) -> bool:
    """Drop an annotation's author and dates; True if it had any."""
    if "/Subtype" not in obj or "/Rect" not in obj or obj.get("/Subtype") == pikepdf.Name.Widget:
        return False
    found = False
    for key in _ANNOTATION_KEYS:
        if key in obj:
            del obj[key]
            found = True
    return found


# Object and cross-reference streams qpdf inflates just to parse the file: their total budget.
STRUCTURE_BUDGET = 64 << 20
_STRUCTURE = re.compile(rb"/Type\s*/(?:ObjStm|XRef)\b")
_STREAM = re.compile(rb"stream\r?\n")


def _check_structure_streams(data: bytes, budget: int = STRUCTURE_BUDGET) -> None:
    """Raise InflatesTooMuch if the structure streams would inflate past `budget` bytes (and
    TooLargeToClean if one uses a filter we cannot bound)."""
    left = budget
    for match in _STRUCTURE.finditer(data):
        header = _STREAM.search(data, match.end(), match.end() + 4096)
        if header is None:
            continue
        dictionary = data[match.start() : header.start()]
        if b"/Filter" not in dictionary:
            continue  # stored as is: no bigger than the file itself
        if b"/FlateDecode" not in dictionary:
            raise TooLargeToClean("a structure stream uses a filter we do not bound")
        left = _inflated_within(data, header.end(), left)


def _inflated_within(data: bytes, start: int, left: int) -> int:
    """Inflate the deflate stream at `start`, 1 MiB of output at a time; return the budget left."""
    inflater = zlib.decompressobj()
    position = start
    while not inflater.eof and position < len(data):
        pending = data[position : position + 65536]
        position += len(pending)
        while pending and not inflater.eof:  # after the end, zlib keeps the rest as "tail"
            try:
                left -= len(inflater.decompress(pending, 1 << 20))
            except zlib.error:
                return left  # not a valid stream: qpdf will judge it
            if left < 0:
                raise InflatesTooMuch("structure streams inflate past the budget")
            pending = inflater.unconsumed_tail
    return left


def clean_pdf(data: bytes) -> tuple[bytes, tuple[str, ...]]:
    """The cleaned PDF and codes of what went; pikepdf errors propagate for unreadable files."""
    _check_structure_streams(data)
    removed: dict[str, None] = {}
    with pikepdf.open(io.BytesIO(data), attempt_recovery=False) as pdf:
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
            if _strip_annotation(obj):
                removed["annotation_authors"] = None
        out = io.BytesIO()
        pdf.save(
            out,
            deterministic_id=True,
            stream_decode_level=pikepdf.StreamDecodeLevel.none,
        )
        if pdf.get_warnings():
            raise ValueError("damaged PDF")  # qpdf worked around damage: not the whole file
    return out.getvalue(), tuple(removed)
