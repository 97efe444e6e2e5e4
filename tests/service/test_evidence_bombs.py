"""Decompression bombs in evidence: cleaned within a budget, or stored exactly as they came and
reported as `inflates_too_much`, never inflated without bound (PDF structure streams, Office
zips). They are not refused: evidence is never lost, and the reporter is told the truth."""

from __future__ import annotations

import io
import struct
import threading
import time
import tracemalloc
import zlib

import pikepdf

from service.evidence import CleanReport, make_sanitiser
from tests.service import evidence_samples as samples


def _pdf_with_object_stream(inflated: int) -> bytes:
    """A PDF whose one object stream inflates to `inflated` bytes (a decompression bomb)."""
    deflate = zlib.compressobj(9)
    block = b"A" * (1 << 20)
    packed = deflate.compress(b"1 0 (")
    for _ in range(inflated >> 20):
        packed += deflate.compress(block)
    packed += deflate.compress(b")") + deflate.flush()
    out = bytearray(b"%PDF-1.5\n")
    offsets: dict[int, int] = {}

    def add(number: int, content: bytes) -> None:
        offsets[number] = len(out)
        out.extend(b"%d 0 obj\n" % number + content + b"\nendobj\n")

    add(2, b"<< /Type /Catalog /Pages 3 0 R >>")
    add(3, b"<< /Type /Pages /Kids [] /Count 0 >>")
    add(
        4,
        b"<< /Type /ObjStm /N 1 /First 4 /Filter /FlateDecode /Length %d >>\nstream\n" % len(packed)
        + packed
        + b"\nendstream",
    )
    xref_at = len(out)
    rows = [
        (0, 0, 65535),
        (2, 4, 0),
        (1, offsets[2], 0),
        (1, offsets[3], 0),
        (1, offsets[4], 0),
        (1, xref_at, 0),
    ]
    table = b"".join(struct.pack(">BIH", *row) for row in rows)
    out.extend(
        b"5 0 obj\n<< /Type /XRef /Size 6 /W [1 4 2] /Root 2 0 R /Length %d >>\nstream\n"
        % len(table)
        + table
        + b"\nendstream\nendobj\nstartxref\n%d\n%%%%EOF\n" % xref_at
    )
    return bytes(out)


def test_a_pdf_object_stream_bomb_is_stored_unchanged_not_inflated() -> None:
    bomb = _pdf_with_object_stream(200 << 20)
    assert len(bomb) < 1 << 20
    tracemalloc.start()
    try:
        sanitiser = make_sanitiser(enabled=True, max_in_memory=32 << 20)
        out = sanitiser.feed(bomb) + sanitiser.finish()
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    assert out == bomb
    assert sanitiser.report.reason == "inflates_too_much"
    assert not sanitiser.report.cleaned
    assert peak < 96 << 20


def test_a_pdf_with_ordinary_object_streams_is_still_cleaned() -> None:
    pdf = pikepdf.new()
    pdf.add_blank_page()
    pdf.docinfo["/Author"] = "Agent Smith"
    buffer = io.BytesIO()
    pdf.save(buffer, object_stream_mode=pikepdf.ObjectStreamMode.generate)
    data = buffer.getvalue()
    assert b"/ObjStm" in data
    sanitiser = make_sanitiser(enabled=True, max_in_memory=32 << 20)
    out = sanitiser.feed(data) + sanitiser.finish()
    assert sanitiser.report.cleaned, sanitiser.report
    assert b"Agent Smith" not in out


def test_a_hand_made_pdf_with_a_small_object_stream_is_cleaned_promptly() -> None:
    # Regression: the bounded pre-scan once looped forever after a stream's end.
    data = _pdf_with_object_stream(1 << 20)
    sanitiser = make_sanitiser(enabled=True, max_in_memory=32 << 20)
    done = threading.Event()

    def clean() -> None:
        sanitiser.feed(data)
        sanitiser.finish()
        done.set()

    threading.Thread(target=clean, daemon=True).start()
    assert done.wait(timeout=20), "cleaning did not finish"
    assert sanitiser.report.reason != "too_large_to_clean"


def test_an_office_zip_bomb_is_stored_unchanged_and_cheaply() -> None:
    data = samples.docx_zip_bomb()
    assert len(data) < 1 << 20
    started = time.perf_counter()
    sanitiser = make_sanitiser(enabled=True, max_in_memory=32 << 20)
    out = sanitiser.feed(data) + sanitiser.finish()
    assert out == data  # stored as it came, its author included, and the reporter is told
    assert samples.SECRET.encode() in samples.unzipped_text(out)
    assert sanitiser.report == CleanReport("ooxml", (), cleaned=False, reason="inflates_too_much")
    assert time.perf_counter() - started < 5


def _declaring(bomb: bytes, name: bytes, size: int) -> bytes:
    """`bomb` with `name`'s uncompressed size declared as `size` in both of its headers."""
    out = bytearray(bomb)
    local = 0
    while (local := out.find(b"PK\x03\x04", local)) >= 0:
        if out[local + 30 : local + 30 + len(name)] == name:
            out[local + 22 : local + 26] = size.to_bytes(4, "little")
        local += 4
    central = out.find(b"PK\x01\x02")
    while central >= 0:
        if out[central + 46 : central + 46 + len(name)] == name:
            out[central + 24 : central + 28] = size.to_bytes(4, "little")
        central = out.find(b"PK\x01\x02", central + 4)
    return bytes(out)


def test_an_office_zip_bomb_that_lies_about_its_size_is_stored_unchanged_and_cheaply() -> None:
    data = _declaring(samples.docx_zip_bomb(), b"word/media/filler.bin", 1000)
    started = time.perf_counter()
    sanitiser = make_sanitiser(enabled=True, max_in_memory=32 << 20)
    out = sanitiser.feed(data) + sanitiser.finish()
    assert out == data
    assert not sanitiser.report.cleaned
    assert sanitiser.report.reason in ("inflates_too_much", "unreadable")
    assert time.perf_counter() - started < 5
