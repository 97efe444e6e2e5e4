"""Evidence is never lost: a file is stored either cleaned completely or exactly as it came.

Damaged files (truncated, corrupted) must never come out as a partial output: the reporter is
told the file was stored as it came, and it must be.
"""

from __future__ import annotations

import io
import random
import uuid
import zipfile
from collections.abc import Callable, Iterator

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from PIL import Image
from sqlalchemy import Engine, insert, select
from sqlalchemy.orm import Session

from crypto.age import Decryptor
from crypto.errors import NoIdentityError
from service.blobs.models import Blob, BlobChunk
from service.blobs.spool import ChunkSpool
from service.blobs.store import read_blob
from service.config import Settings
from service.db import make_session_factory
from service.evidence import CleanReport, make_sanitiser
from service.tips.attachments import AttachmentSummary, AttachmentWriter
from service.tips.models import Attachment
from tests.factories import init_instance
from tests.service import evidence_review_samples as review
from tests.service import evidence_samples as samples
from tests.service.test_blobs import IDENTITY, RECIPIENT, make_tip

BIG = 32 << 20


def stored(data: bytes, *, max_in_memory: int = BIG, piece: int = 0) -> tuple[bytes, CleanReport]:
    """What intake stores for `data` fed in pieces: the output, or the original copy the
    sanitiser asked the caller to keep when the file could not be cleaned."""
    sanitiser = make_sanitiser(enabled=True, max_in_memory=max_in_memory)
    take: Callable[[], bytes] = getattr(sanitiser, "take_original", lambda: b"")
    out, original = bytearray(), bytearray()
    step = piece or max(len(data), 1)
    for start in range(0, len(data), step):
        out += sanitiser.feed(data[start : start + step])
        original += take()
    out += sanitiser.finish()
    original += take()
    if original and not sanitiser.report.cleaned:
        return bytes(original), sanitiser.report
    return bytes(out), sanitiser.report


def assert_cleaned_or_identical(data: bytes, out: bytes, report: CleanReport) -> None:
    if not report.cleaned:
        assert out == data, (len(out), len(data), report)
        assert report.removed == ()
        return
    # A complete clean is a fixed point: cleaning it again removes nothing and changes nothing
    # (qpdf may order a dictionary's keys differently on a second save: same PDF objects).
    again, second = stored(out)
    assert second.cleaned, second
    assert again == out or out.startswith(b"%PDF-")
    assert second.removed in ((), ("zip_timestamps",))


def test_a_jpeg_cut_inside_app1_is_stored_exactly_as_received() -> None:
    # The review's case: it came out as 2 bytes while the reporter read "stored as it was".
    original = samples.jpeg_file()
    cut = original[: original.index(b"Exif") + 40]
    out, report = stored(cut)
    assert out == cut
    assert report == CleanReport("jpeg", (), cleaned=False, reason="unreadable")


@pytest.mark.parametrize("where", [0.3, 0.6, 0.9, -2])
def test_a_truncated_jpeg_is_stored_exactly_as_received(where: float) -> None:
    original = samples.jpeg_file((256, 256))
    cut = original[: int(len(original) * where)] if where > 0 else original[:-2]  # no EOI
    out, report = stored(cut)
    assert out == cut
    assert not report.cleaned
    assert report.reason == "unreadable"


def test_a_jpeg_broken_after_its_exif_is_stored_exactly_as_received() -> None:
    original = samples.jpeg_file()
    at = original.index(b"\xff\xdb")  # the first DQT, after EXIF, XMP and the comment
    broken = original[:at] + b"\xff\xdb\x00\x01" + original[at:]  # a length below 2
    out, report = stored(broken)
    assert out == broken
    assert report.reason == "unreadable"


@pytest.mark.parametrize("cut", ["inside tEXt", "inside IDAT", "before IEND"])
def test_a_truncated_png_is_stored_exactly_as_received(cut: str) -> None:
    original = samples.png_file()
    at = {
        "inside tEXt": original.index(b"tEXt") + 8,
        "inside IDAT": original.index(b"IDAT") + 8,
        "before IEND": original.index(b"IEND") - 4,
    }[cut]
    out, report = stored(original[:at])
    assert out == original[:at]
    assert report.reason == "unreadable"


@pytest.mark.parametrize("keep", [0.5, 0.9, 0.99])
def test_a_truncated_pdf_is_stored_exactly_as_received_not_repaired(keep: float) -> None:
    original = samples.pdf_file()
    cut = original[: int(len(original) * keep)]
    out, report = stored(cut)
    assert out == cut
    assert report.reason == "unreadable"


@pytest.mark.parametrize("kind", ["jpeg", "png"])
def test_an_image_larger_than_memory_is_still_cleaned_while_streaming(kind: str) -> None:
    original = samples.jpeg_file((256, 256)) if kind == "jpeg" else samples.png_file()
    expected, _ = stored(original)
    out, report = stored(original, max_in_memory=100, piece=97)
    assert report.cleaned
    assert out == expected
    assert samples.SECRET.encode() not in out


@pytest.mark.parametrize("kind", ["jpeg", "png"])
def test_a_damaged_image_larger_than_memory_is_stored_from_the_kept_original(kind: str) -> None:
    original = samples.jpeg_file((256, 256)) if kind == "jpeg" else samples.png_file()
    cut = original[: len(original) * 2 // 3]
    sanitiser = make_sanitiser(enabled=True, max_in_memory=100)
    kept = bytearray()
    for start in range(0, len(cut), 50):
        sanitiser.feed(cut[start : start + 50])
        kept += sanitiser.take_original()
        fed = min(start + 50, len(cut))
        assert len(kept) == (fed if fed > 100 else 0)  # handed on as it streams, not held
    sanitiser.finish()
    kept += sanitiser.take_original()
    assert bytes(kept) == cut
    assert not sanitiser.report.cleaned


def test_a_document_with_a_damaged_photo_inside_is_stored_exactly_as_received() -> None:
    # Cleaning the rest and keeping a part-filtered photo would be a partial output too.
    photo = samples.jpeg_file((64, 64))
    docx = samples.replace_entry(samples.docx_file(), "word/media/image1.jpeg", photo[:-200])
    out, report = stored(docx)
    assert out == docx
    assert report.reason == "unreadable"


@pytest.mark.parametrize("build", [samples.docx_file, samples.odt_file])
def test_a_document_with_bytes_outside_its_zip_is_stored_exactly_as_received(
    build: Callable[[], bytes],
) -> None:
    # Rebuilding the zip would silently drop what follows it (another file, appended).
    original = build() + b"PK\x03\x04 appended data " + bytes(100)
    out, report = stored(original)
    assert out == original
    assert report.reason == "unreadable"


def test_a_document_with_bytes_hidden_between_its_entries_is_stored_exactly_as_received() -> None:
    # Bytes between entries belong to no part: a rebuild would drop them without a word.
    original = samples.docx_file()
    with zipfile.ZipFile(io.BytesIO(original)) as z:
        second = z.infolist()[1].header_offset
        directory = z.start_dir
    hidden = b"a file hidden between two entries"
    data = original[:second] + hidden + original[second:]
    # Point the directory at the moved entries, and the end record at the moved directory.
    data = _shift_directory(data, second, directory + len(hidden), len(hidden))
    with zipfile.ZipFile(io.BytesIO(data)) as z:
        assert z.testzip() is None  # a valid zip that readers open
    out, report = stored(data)
    assert out == data
    assert report.reason == "unreadable"


def _shift_directory(data: bytes, after: int, directory: int, by: int) -> bytes:
    out = bytearray(data)
    pos = directory
    while out[pos : pos + 4] == b"PK\x01\x02":
        offset = int.from_bytes(out[pos + 42 : pos + 46], "little")
        if offset >= after:
            out[pos + 42 : pos + 46] = (offset + by).to_bytes(4, "little")
        sizes = out[pos + 28 : pos + 34]
        pos += 46 + sum(int.from_bytes(sizes[i : i + 2], "little") for i in (0, 2, 4))
    end = out.rfind(b"PK\x05\x06")
    out[end + 16 : end + 20] = directory.to_bytes(4, "little")
    return bytes(out)


def test_a_webp_with_unknown_bytes_after_its_end_is_stored_exactly_as_received() -> None:
    original = samples.webp_file(lossless=True) + b"appended by some tool"
    out, report = stored(original)
    assert out == original
    assert report.reason == "unreadable"


SAMPLES: dict[str, Callable[[], bytes]] = {
    **samples.BY_KIND,
    "docx-review": review.docx_with_review,
    "xlsx-review": review.xlsx_with_comments,
    "pptx-review": review.pptx_with_comments,
    "odt-review": review.odt_with_review,
    "pdf-annotations": review.pdf_with_annotations,
}
_BUILT = {kind: build() for kind, build in SAMPLES.items()}


@st.composite
def damaged(draw: st.DrawFn) -> tuple[str, bytes]:
    kind = draw(st.sampled_from(sorted(_BUILT)))
    data = _BUILT[kind]
    at = draw(st.integers(0, len(data) - 1))
    how = draw(st.sampled_from(["truncate", "flip", "delete", "insert"]))
    if how == "truncate":
        return kind, data[:at]
    if how == "flip":
        return kind, data[:at] + bytes([data[at] ^ draw(st.integers(1, 255))]) + data[at + 1 :]
    if how == "delete":
        return kind, data[:at] + data[at + draw(st.integers(1, 64)) :]
    return kind, data[:at] + draw(st.binary(min_size=1, max_size=16)) + data[at:]


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(
    sample=damaged(),
    piece=st.sampled_from([0, 1, 7, 500]),
    max_in_memory=st.sampled_from([BIG, 64]),
)
def test_a_damaged_file_is_stored_cleaned_or_byte_identical(
    sample: tuple[str, bytes], piece: int, max_in_memory: int
) -> None:
    _, data = sample
    out, report = stored(data, max_in_memory=max_in_memory, piece=piece)
    assert_cleaned_or_identical(data, out, report)


@settings(max_examples=150, deadline=None)
@given(
    kind=st.sampled_from(sorted(_BUILT)), cut=st.integers(16, 10_000), piece=st.sampled_from([0, 3])
)
def test_a_truncated_file_is_never_cleaned_but_stored_whole(
    kind: str, cut: int, piece: int
) -> None:
    # Every format here ends with a marker (EOI, IEND, the RIFF size, xref, the zip directory):
    # a cut file cannot be cleaned completely, so it must come back byte for byte.
    data = _BUILT[kind][: max(len(_BUILT[kind]) - cut, 0)]
    out, report = stored(data, piece=piece)
    assert out == data
    assert not report.cleaned


@pytest.mark.parametrize("kind", sorted(SAMPLES))
def test_every_sample_cleans_to_a_fixed_point(kind: str) -> None:
    data = _BUILT[kind]
    out, report = stored(data)
    assert report.cleaned
    assert_cleaned_or_identical(data, out, report)


# --- stored through the attachment writer, on the database -----------------------------------


@pytest.fixture
def session(engine: Engine, settings: Settings) -> Iterator[Session]:
    init_instance(engine, settings)
    with make_session_factory(engine)() as session:
        yield session


def photo_writer(spool: ChunkSpool, tip_id: uuid.UUID, max_in_memory: int) -> AttachmentWriter:
    """A writer of a photo, metadata to be removed, into the tip's conversation."""
    return AttachmentWriter(
        spool,
        tip_id=tip_id,
        conversation_recipient=RECIPIENT,
        filename="photo.jpg",
        remove_metadata=True,
        max_in_memory=max_in_memory,
    )


def write_attachment(
    session: Session, data: bytes, *, max_in_memory: int
) -> tuple[bytes, AttachmentSummary]:
    tip_id = make_tip(session)
    with ChunkSpool() as spool:
        writer = photo_writer(spool, tip_id, max_in_memory)
        for start in range(0, len(data), 333):
            writer.write(data[start : start + 333])
        writer.close()
        summary = writer.summary
        assert summary is not None
        spool.insert_into(session)
        session.execute(insert(Attachment), [writer.row(0)])
    blob_ids = session.scalars(select(Blob.id).where(Blob.tip_id == tip_id)).all()
    assert len(blob_ids) == 2  # the file and its description: no copy left behind
    attachment = session.get_one(Attachment, summary.id)
    return read_blob(session, attachment.blob_id, [IDENTITY]), summary


@pytest.mark.parametrize("max_in_memory", [BIG, 256])
def test_a_truncated_photo_is_stored_as_received_on_the_database(
    session: Session, max_in_memory: int
) -> None:
    original = samples.jpeg_file((128, 128))
    cut = original[: original.index(b"Exif") + 40] if max_in_memory == BIG else original[:-300]
    data, summary = write_attachment(session, cut, max_in_memory=max_in_memory)
    assert data == cut
    assert summary.cleaned is False
    assert summary.reason == "unreadable"
    assert summary.size == len(cut)


def test_a_large_photo_is_cleaned_and_its_kept_original_discarded(session: Session) -> None:
    original = samples.jpeg_file((128, 128))
    data, summary = write_attachment(session, original, max_in_memory=256)
    assert summary.cleaned is True
    assert samples.SECRET.encode() not in data
    Image.open(io.BytesIO(data)).load()


def test_the_kept_original_is_readable_by_nobody_unless_it_is_stored(session: Session) -> None:
    # Deleted rows linger (PostgreSQL dead tuples, the SQLite WAL, backups): a copy of a photo
    # with its GPS, kept only in case the photo turned out damaged, must not open with the tip's
    # keys once the cleaned photo is stored. It is encrypted to a key that is never stored.
    noise = Image.frombytes("RGB", (1200, 1200), random.Random(5).randbytes(1200 * 1200 * 3))
    buffer = io.BytesIO()
    noise.save(buffer, "JPEG", quality=95, exif=samples.exif_with_gps())
    original = buffer.getvalue()
    assert len(original) > 1 << 20  # so both copies have written a first row of chunks
    tip_id = make_tip(session)
    with ChunkSpool() as spool:
        writer = photo_writer(spool, tip_id, 256)
        writer.write(original)
        spool.insert_into(session)  # both copies as far as they got, as the spool holds them
    first_rows = session.scalars(
        select(BlobChunk.data).join(Blob).where(Blob.tip_id == tip_id, BlobChunk.seq == 0)
    ).all()
    assert len(first_rows) == 2  # the cleaned output and the kept copy
    readable = 0
    for row in first_rows:
        try:
            Decryptor([IDENTITY], pad=True).update(row)
            readable += 1
        except NoIdentityError:
            pass
    assert readable == 1
