"""Metadata removal on real files built in memory: what goes, what stays, that it still opens."""

from __future__ import annotations

import io
import os
import random
import time
import zipfile
from collections.abc import Callable

import defusedxml.minidom
import pikepdf
import pytest
from PIL import Image

from service.evidence import CleanReport, detect_kind, make_sanitiser, sanitise_filename
from tests.service import evidence_samples as samples

SECRET = samples.SECRET.encode()
BIG = 32 << 20


def clean(
    data: bytes, *, max_in_memory: int = BIG, enabled: bool = True
) -> tuple[bytes, CleanReport]:
    sanitiser = make_sanitiser(enabled=enabled, max_in_memory=max_in_memory)
    out = sanitiser.feed(data) + sanitiser.finish()
    return out, sanitiser.report


def clean_in_pieces(data: bytes, sizes: Callable[[], int]) -> bytes:
    sanitiser = make_sanitiser(enabled=True, max_in_memory=BIG)
    out = bytearray()
    pos = 0
    while pos < len(data):
        step = sizes()
        out += sanitiser.feed(data[pos : pos + step])
        pos += step
    return bytes(out + sanitiser.finish())


def opens_as_image(data: bytes, fmt: str) -> Image.Image:
    with Image.open(io.BytesIO(data)) as image:
        image.verify()
    image = Image.open(io.BytesIO(data))
    image.load()
    assert image.format == fmt
    return image


def test_jpeg_loses_exif_gps_xmp_and_comments_but_keeps_pixels_and_colour() -> None:
    original = samples.jpeg_file()
    assert original.count(SECRET) == 3
    out, report = clean(original)
    assert report == CleanReport("jpeg", ("exif", "gps", "xmp", "comment"), cleaned=True)
    assert SECRET not in out
    assert b"SmithCam" not in out
    image = opens_as_image(out, "JPEG")
    assert image.getexif() == {}
    assert "icc_profile" in image.info
    assert image.tobytes() == Image.open(io.BytesIO(original)).tobytes()  # not re-encoded


@pytest.mark.parametrize(
    "options",
    [
        {"progressive": True},
        {"restart_marker_blocks": 3},
        {"progressive": True, "restart_marker_rows": 1},
    ],
)
def test_jpeg_scans_pass_intact_in_any_split(options: dict[str, object]) -> None:
    noise = Image.frombytes("RGB", (300, 200), random.Random(7).randbytes(300 * 200 * 3))
    buf = io.BytesIO()
    noise.save(buf, "JPEG", exif=samples.exif_with_gps(), quality=90, **options)
    original = buf.getvalue()
    rng = random.Random(3)
    out = clean_in_pieces(original, lambda: rng.randint(1, 3000))
    assert SECRET not in out
    assert opens_as_image(out, "JPEG").tobytes() == Image.open(io.BytesIO(original)).tobytes()


def test_jpeg_keeps_jfif_but_not_its_thumbnail() -> None:
    original = samples.jpeg_file()
    assert original[2:4] == b"\xff\xe0"
    assert original[6:11] == b"JFIF\x00"
    fixed = original[6:18]  # identifier, version, units, densities
    app0 = fixed + bytes([2, 2]) + b"\x10\x20\x30" * 4
    with_thumbnail = original[:2] + b"\xff\xe0" + (len(app0) + 2).to_bytes(2, "big") + app0
    with_thumbnail += original[20:]
    out, report = clean(with_thumbnail)
    assert "thumbnail" in report.removed
    assert out[2:20] == original[2:20]  # JFIF with a 0x0 thumbnail, as Pillow writes it
    assert b"\x10\x20\x30" not in out
    assert opens_as_image(out, "JPEG").info["jfif"]


def test_jpeg_drops_what_hides_after_the_end_of_image() -> None:
    # Multi-picture files and motion photos append further images or video after EOI.
    original = samples.jpeg_file() + samples.jpeg_file((8, 8))
    out, report = clean(original)
    assert "trailing_data" in report.removed
    assert SECRET not in out
    opens_as_image(out, "JPEG")


def test_png_loses_text_exif_time_and_private_chunks_but_keeps_colour() -> None:
    out, report = clean(samples.png_file())
    assert set(report.removed) == {"text_chunks", "exif", "timestamp", "private_chunks"}
    assert report.cleaned
    assert SECRET not in out
    for chunk in (b"tEXt", b"zTXt", b"iTXt", b"eXIf", b"tIME", b"prVt"):
        assert chunk not in out
    image = opens_as_image(out, "PNG")
    assert "icc_profile" in image.info
    assert image.mode == "RGBA"


@pytest.mark.parametrize("lossless", [True, False])
def test_webp_loses_exif_and_xmp_byte_exactly(lossless: bool) -> None:
    original = samples.webp_file(lossless=lossless)
    out, report = clean(original)
    assert report == CleanReport("webp", ("exif", "xmp"), cleaned=True)
    assert SECRET not in out
    assert b"EXIF" not in out
    image = opens_as_image(out, "WEBP")
    assert not image.getexif()
    assert "icc_profile" in image.info
    assert image.tobytes() == Image.open(io.BytesIO(original)).tobytes()
    assert int.from_bytes(out[4:8], "little") == len(out) - 8


def test_pdf_loses_document_info_xmp_piece_info_and_its_id() -> None:
    original = samples.pdf_file()
    with pikepdf.open(io.BytesIO(original)) as pdf:
        original_id = bytes(pdf.trailer.ID[0])
    out, report = clean(original)
    assert report == CleanReport("pdf", ("document_info", "xmp_metadata", "piece_info"), True)
    assert SECRET not in out
    with pikepdf.open(io.BytesIO(out)) as pdf:
        assert len(pdf.pages) == 1
        assert "/Info" not in pdf.trailer
        assert "/Metadata" not in pdf.Root
        assert original_id not in (bytes(pdf.trailer.ID[0]), bytes(pdf.trailer.ID[1]))


@pytest.mark.parametrize(
    ("build", "main"), [("docx", "word/document.xml"), ("xlsx", "xl/workbook.xml")]
)
def test_ooxml_loses_properties_and_thumbnail_and_keeps_the_content(build: str, main: str) -> None:
    original = samples.BY_KIND[build]()
    out, report = clean(original)
    assert report.kind == "ooxml"
    assert report.cleaned
    expected = {"core_properties", "app_properties", "custom_properties", "thumbnail", "gps"}
    assert expected <= set(report.removed)  # gps: from the photo in the media folder
    assert SECRET not in samples.unzipped_text(out)
    with zipfile.ZipFile(io.BytesIO(out)) as z, zipfile.ZipFile(io.BytesIO(original)) as before:
        assert z.testzip() is None
        assert z.read(main) == before.read(main)
        assert "docProps/thumbnail.jpeg" not in z.namelist()
        assert b"thumbnail" not in z.read("_rels/.rels") + z.read("[Content_Types].xml")
        assert b"officeDocument" in z.read("_rels/.rels")
        core = defusedxml.minidom.parseString(z.read("docProps/core.xml")).documentElement
        assert core is not None
        assert core.localName == "coreProperties"
        assert not core.childNodes
        app = z.read("docProps/app.xml")
        assert b"Microsoft Office Word" in app
        assert b"Company" not in app
        assert all(info.date_time == (1980, 1, 1, 0, 0, 0) for info in z.infolist())
        assert not z.comment
        media = next(name for name in z.namelist() if "/media/" in name)
        assert opens_as_image(z.read(media), "JPEG").getexif() == {}


def test_odt_loses_meta_thumbnail_and_printer_but_stays_a_valid_package() -> None:
    out, report = clean(samples.odt_file())
    assert report.kind == "odf"
    assert report.cleaned
    assert {"odf_meta", "thumbnail", "printer_settings", "text_chunks"} <= set(report.removed)
    assert SECRET not in samples.unzipped_text(out)
    with zipfile.ZipFile(io.BytesIO(out)) as z:
        assert z.testzip() is None
        first = z.infolist()[0]
        assert first.filename == "mimetype"
        assert first.compress_type == zipfile.ZIP_STORED
        assert out[30:38] == b"mimetype"  # readers sniff the type at a fixed offset
        assert not [n for n in z.namelist() if n.startswith("Thumbnails/")]
        assert b"Thumbnails" not in z.read("META-INF/manifest.xml")
        meta = z.read("meta.xml")
        assert b"document-statistic" in meta
        assert b"en-GB" in meta
        assert b"generator" not in meta
        assert b"creation-date" not in meta
        assert b"TabsRelativeToIndent" in z.read("settings.xml")
        opens_as_image(z.read("Pictures/photo.png"), "PNG")


@pytest.mark.parametrize("kind", sorted(samples.BY_KIND))
def test_any_split_of_the_input_gives_the_same_output(kind: str) -> None:
    original = samples.BY_KIND[kind]()
    whole, _ = clean(original)
    rng = random.Random(kind)
    assert clean_in_pieces(original, lambda: 1) == whole
    for _ in range(5):
        assert clean_in_pieces(original, lambda: rng.randint(1, 700)) == whole


def test_streaming_cleaners_emit_output_before_the_end() -> None:
    original = samples.jpeg_file((512, 512))
    sanitiser = make_sanitiser(enabled=True, max_in_memory=1024)  # irrelevant to streaming types
    first = sanitiser.feed(original[: len(original) // 2])
    assert len(first) > len(original) // 4


@pytest.mark.parametrize("kind", ["pdf", "docx", "odt", "webp"])
def test_a_file_over_the_memory_limit_passes_through_unchanged(kind: str) -> None:
    original = samples.BY_KIND[kind]()
    limit = len(original) // 2
    sanitiser = make_sanitiser(enabled=True, max_in_memory=limit)
    outputs = [sanitiser.feed(original[i : i + 100]) for i in range(0, len(original), 100)]
    assert max(len(piece) for piece in outputs) <= limit + 100  # buffered no further than the limit
    assert b"".join(outputs) + sanitiser.finish() == original
    assert sanitiser.report == CleanReport(
        {"docx": "ooxml", "odt": "odf"}.get(kind, kind),
        (),
        cleaned=False,
        reason="too_large_to_clean",
    )


@pytest.mark.parametrize(
    "broken",
    [
        b"%PDF-1.7\n" + os.urandom(500),
        b"PK\x03\x04" + os.urandom(500),
        b"RIFF\xff\xff\x00\x00WEBPVP8 " + os.urandom(100),
        samples.replace_entry(samples.docx_file(), "docProps/core.xml", b"<not-closed>"),
    ],
    ids=["pdf", "zip", "webp", "docx-bad-xml"],
)
def test_an_unreadable_file_is_kept_as_it_came(broken: bytes) -> None:
    out, report = clean(broken)
    assert out == broken
    assert not report.cleaned
    assert report.reason == "unreadable"


def test_an_xml_bomb_in_core_properties_is_refused_quickly() -> None:
    lol = "".join(f'<!ENTITY l{i} "{f"&l{i - 1};" * 10}">' for i in range(1, 10))
    bomb = f'<?xml version="1.0"?><!DOCTYPE r [<!ENTITY l0 "lol">{lol}]><r>&l9;</r>'.encode()
    original = samples.replace_entry(samples.docx_file(), "docProps/core.xml", bomb)
    started = time.monotonic()
    out, report = clean(original)
    assert time.monotonic() - started < 2
    assert out == original
    assert report.reason == "unreadable"


def test_a_broken_jpeg_passes_the_rest_through_and_says_unreadable() -> None:
    original = samples.jpeg_file()
    # A segment length below 2 breaks the structure right after SOI.
    broken = original[:2] + b"\xff\xe1\x00\x01" + original[2:]
    out, report = clean(broken)
    assert out == broken
    assert report.reason == "unreadable"
    assert not report.cleaned


@pytest.mark.parametrize(
    ("data", "kind"),
    [
        (b"GIF89a" + bytes(100), "other"),
        (os.urandom(1000), "other"),
        (b"", "other"),
        (b"\xd0\xcf\x11\xe0\xa1\xb1\x1a\xe1" + bytes(600), "other"),  # legacy .doc
    ],
)
def test_unsupported_types_pass_through(data: bytes, kind: str) -> None:
    out, report = clean(data)
    assert out == data
    assert report == CleanReport(kind, (), cleaned=False, reason="unsupported_type")


def test_a_plain_zip_is_not_mistaken_for_an_office_document() -> None:
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w") as z:
        z.writestr("notes.txt", SECRET)
    out, report = clean(buf.getvalue())
    assert out == buf.getvalue()
    assert report.reason == "unsupported_type"


@pytest.mark.parametrize("kind", ["jpeg", "pdf", "docx"])
def test_disabled_passes_everything_through(kind: str) -> None:
    original = samples.BY_KIND[kind]()
    out, report = clean(original, enabled=False)
    assert out == original
    assert report.reason == "disabled"
    assert not report.cleaned
    assert report.kind == detect_kind(original[:128])


def test_type_comes_from_magic_numbers() -> None:
    assert [detect_kind(build()[:128]) for build in samples.BY_KIND.values()] == [
        "jpeg",
        "png",
        "webp",
        "pdf",
        "ooxml",
        "ooxml",
        "odf",
    ]


@pytest.mark.parametrize(
    ("name", "expected"),
    [
        ("../../etc/passwd", "passwd"),
        ("C:\\Users\\x\\evil.exe", "evil.exe"),
        ("a\x00b.jpg", "ab.jpg"),
        ("\u202egnp.exe", "gnp.exe"),
        ("in\u2066voice\u2069\u200f.pdf", "invoice.pdf"),
        ("tab\tand\nnew\r\nlines \x7f\x85\x1b[31m.txt", "tab and new lines [31m.txt"),
        ("", "file"),
        (".hidden", "hidden"),
        ("  ..  ", "file"),
        ("dir/", "file"),
        ("Cafe\u0301 report.docx", "Caf\u00e9 report.docx"),
        ("lone\udc80surrogate.png", "lonesurrogate.png"),
    ],
)
def test_filenames_are_sanitised(name: str, expected: str) -> None:
    assert sanitise_filename(name) == expected


def test_long_filenames_keep_their_extension() -> None:
    name = sanitise_filename("x" * 1000 + ".jpeg")
    assert len(name) == 200
    assert name.endswith("x.jpeg")
    assert len(sanitise_filename("y" * 1000)) == 200
