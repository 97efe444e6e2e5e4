"""Review traces in Office files and PDFs: comment and tracked-change authors, the people part
with its directory ids and e-mail addresses, and annotation authors are removed, while the
comments, changes and annotations themselves stay and the file remains a consistent package."""

from __future__ import annotations

import io
import posixpath
import zipfile
from collections.abc import Callable

import defusedxml.minidom
import pikepdf
import pytest

from service.evidence import CleanReport, make_sanitiser
from tests.service import evidence_review_samples as review
from tests.service.evidence_samples import unzipped_text

REL_NS = "http://schemas.openxmlformats.org/package/2006/relationships"


def clean(data: bytes) -> tuple[bytes, CleanReport]:
    sanitiser = make_sanitiser(enabled=True, max_in_memory=32 << 20)
    out = sanitiser.feed(data) + sanitiser.finish()
    return out, sanitiser.report


def assert_consistent_package(data: bytes) -> None:
    """Every XML part parses; every internal relationship and content-type override names a
    part that exists, so Office opens the file without a repair prompt."""
    with zipfile.ZipFile(io.BytesIO(data)) as z:
        assert z.testzip() is None
        names = set(z.namelist())
        for name in names:
            if name.endswith((".xml", ".rels")):
                defusedxml.minidom.parseString(z.read(name))
        types = defusedxml.minidom.parseString(z.read("[Content_Types].xml"))
        for override in types.getElementsByTagName("Override"):
            assert override.getAttribute("PartName").lstrip("/") in names
        for rels_name in (n for n in names if n.endswith(".rels")):
            base = posixpath.dirname(posixpath.dirname(rels_name))
            for rel in defusedxml.minidom.parseString(z.read(rels_name)).getElementsByTagNameNS(
                REL_NS, "Relationship"
            ):
                if rel.getAttribute("TargetMode") != "External":
                    target = posixpath.normpath(posixpath.join(base, rel.getAttribute("Target")))
                    assert target in names, (rels_name, target)


def assert_no_traces(data: bytes) -> None:
    text = unzipped_text(data)
    for trace in review.TRACES:
        assert trace.encode() not in text, trace


def clean_of_traces(data: bytes, removed: set[str]) -> bytes:
    """`data` cleaned, having reported `removed` and left a consistent package without traces."""
    out, report = clean(data)
    assert report.cleaned, report
    assert removed <= set(report.removed)
    assert_no_traces(out)
    assert_consistent_package(out)
    return out


SAMPLES: dict[str, Callable[[], bytes]] = {
    "docx": review.docx_with_review,
    "xlsx": review.xlsx_with_comments,
    "pptx": review.pptx_with_comments,
}


@pytest.mark.parametrize("kind", sorted(SAMPLES))
def test_the_samples_carry_the_traces_and_are_consistent(kind: str) -> None:
    data = SAMPLES[kind]()
    assert_consistent_package(data)
    assert review.AUTHOR.encode() in unzipped_text(data)


def test_docx_loses_change_and_comment_authors_and_people_but_keeps_the_changes() -> None:
    out = clean_of_traces(review.docx_with_review(), {"review_authors", "people"})
    with zipfile.ZipFile(io.BytesIO(out)) as z:
        assert "word/people.xml" not in z.namelist()
        assert b"people" not in z.read("word/_rels/document.xml.rels")
        assert b"people" not in z.read("[Content_Types].xml")
        document = z.read("word/document.xml")
        comments = z.read("word/comments.xml")
    # The changes and the comment are evidence: they stay, by an anonymous author.
    for kept in (b"<w:ins ", b"<w:delText>nobody</w:delText>", b"<w:rPrChange ", b"the chief"):
        assert kept in document
    assert b"Check the ledger of March." in comments
    assert b'w:author="Author"' in document
    assert b"w:date" not in document + comments
    assert b"w:initials" not in comments


def test_xlsx_loses_comment_authors_persons_and_revision_users() -> None:
    out = clean_of_traces(review.xlsx_with_comments(), {"review_authors"})
    with zipfile.ZipFile(io.BytesIO(out)) as z:
        comments = z.read("xl/comments1.xml")
        persons = z.read("xl/persons/person.xml")
    assert b"Ask about this row." in comments
    assert comments.count(b"<author>") == 2  # authorId indexes still resolve
    assert b"userId" not in persons


def test_pptx_loses_comment_authors_and_their_directory_ids() -> None:
    clean_of_traces(review.pptx_with_comments(), {"review_authors"})


def test_a_document_without_review_traces_reports_none() -> None:
    from tests.service.evidence_samples import docx_file

    _, report = clean(docx_file())
    assert "review_authors" not in report.removed
    assert "people" not in report.removed


def test_pdf_annotation_authors_go_but_notes_and_form_fields_stay() -> None:
    original = review.pdf_with_annotations()
    assert review.AUTHOR.encode() in original
    out, report = clean(original)
    assert report.cleaned, report
    assert "annotation_authors" in report.removed
    assert review.AUTHOR.encode() not in out
    with pikepdf.open(io.BytesIO(out)) as pdf:
        annots = list(pdf.pages[0].obj["/Annots"])
        note, popup, field = annots
        assert str(note["/Contents"]) == "Seen at the border crossing"
        for key in ("/T", "/M", "/CreationDate"):
            assert key not in note
        assert "/T" not in popup
        assert str(field["/T"]) == "badge_number"  # a form field's /T is its name
        assert str(field["/V"]) == "4471"


def test_odt_loses_annotation_and_change_authors_but_keeps_them() -> None:
    out, report = clean(review.odt_with_review())
    assert report.cleaned, report
    assert "review_authors" in report.removed
    assert_no_traces(out)
    with zipfile.ZipFile(io.BytesIO(out)) as z:
        assert z.namelist()[0] == "mimetype"
        content = z.read("content.xml")
    defusedxml.minidom.parseString(content)
    for kept in (b"<text:insertion>", b"Check the ledger of March.", b"the chief", b"dc:date"):
        assert kept in content
    assert b"<dc:creator>Author</dc:creator>" in content


class _Unseekable(io.RawIOBase):
    """Makes zipfile write data descriptors after each entry, as LibreOffice does."""

    def __init__(self) -> None:
        self.data = bytearray()

    def writable(self) -> bool:
        return True

    def write(self, b: bytes) -> int:  # type: ignore[override]
        self.data += b
        return len(b)


def test_a_package_written_with_data_descriptors_is_still_cleaned() -> None:
    sink = _Unseekable()
    with (
        zipfile.ZipFile(io.BytesIO(review.odt_with_review())) as source,
        zipfile.ZipFile(sink, "w", zipfile.ZIP_DEFLATED) as target,
    ):
        for info in source.infolist():
            target.writestr(info.filename, source.read(info))
    data = bytes(sink.data)
    with zipfile.ZipFile(io.BytesIO(data)) as z:
        assert all(info.flag_bits & 0x08 for info in z.infolist())
    out, report = clean(data)
    assert report.cleaned, report
    assert_no_traces(out)
