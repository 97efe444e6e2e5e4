"""Office files and PDFs with review traces (comments, tracked changes, people, annotations) that
name their authors, built by hand in memory for the sanitiser tests."""

from __future__ import annotations

import io
import zipfile

import pikepdf

from tests.service.evidence_samples import odt_package

AUTHOR = "Agent Smith"
EMAIL = "agent.smith@example.org"
DIRECTORY_ID = "S::agent.smith@example.org::5f1c0b9e-7d1a-4c2e-9a3b-0d6e5f4a3b21"
INITIALS = "ASx"
TRACES = (AUTHOR, EMAIL, DIRECTORY_ID, INITIALS)

_PKG = "http://schemas.openxmlformats.org/package/2006"
_DOC = "http://schemas.openxmlformats.org/officeDocument/2006"
_W = "http://schemas.openxmlformats.org/wordprocessingml/2006/main"
_W15 = "http://schemas.microsoft.com/office/word/2012/wordml"
_X = "http://schemas.openxmlformats.org/spreadsheetml/2006/main"
_P = "http://schemas.openxmlformats.org/presentationml/2006/main"
_OPENXML = "application/vnd.openxmlformats-officedocument"
_WHEN = 'w:date="2026-01-02T03:04:05Z"'


def _rels(*rels: tuple[str, str, str]) -> bytes:
    body = "".join(
        f'<Relationship Id="{rid}" Type="{kind}" Target="{target}"/>' for rid, kind, target in rels
    )
    return f'<Relationships xmlns="{_PKG}/relationships">{body}</Relationships>'.encode()


def _package(parts: dict[str, bytes], overrides: dict[str, str]) -> bytes:
    types = "".join(
        f'<Override PartName="/{name}" ContentType="{kind}"/>' for name, kind in overrides.items()
    )
    content_types = (
        f'<?xml version="1.0" encoding="UTF-8"?><Types xmlns="{_PKG}/content-types">'
        '<Default Extension="rels" ContentType="application/vnd.openxmlformats-package.'
        'relationships+xml"/><Default Extension="xml" ContentType="application/xml"/>'
        f"{types}</Types>"
    )
    out = io.BytesIO()
    with zipfile.ZipFile(out, "w", zipfile.ZIP_DEFLATED) as z:
        z.writestr("[Content_Types].xml", content_types)
        for name, data in parts.items():
            z.writestr(name, data)
    return out.getvalue()


def docx_with_review() -> bytes:
    """Tracked insertion, deletion and formatting change, a comment, and word/people.xml."""
    document = (
        f'<?xml version="1.0" encoding="UTF-8" standalone="yes"?><w:document xmlns:w="{_W}">'
        '<w:body><w:p><w:pPr><w:pPrChange w:id="5" w:author="Agent Smith" '
        f'{_WHEN}><w:pPr/></w:pPrChange></w:pPr><w:commentRangeStart w:id="0"/>'
        "<w:r><w:t>Payments went to </w:t></w:r>"
        f'<w:ins w:id="1" w:author="{AUTHOR}" {_WHEN}><w:r><w:t>the chief</w:t></w:r></w:ins>'
        f'<w:del w:id="2" w:author="{AUTHOR}" {_WHEN}><w:r><w:delText>nobody</w:delText></w:r>'
        f'</w:del><w:r><w:rPr><w:b/><w:rPrChange w:id="3" w:author="{AUTHOR}" {_WHEN}>'
        "<w:rPr/></w:rPrChange></w:rPr><w:t> every month.</w:t></w:r>"
        '<w:commentRangeEnd w:id="0"/><w:r><w:commentReference w:id="0"/></w:r></w:p>'
        "</w:body></w:document>"
    ).encode()
    comments = (
        f'<?xml version="1.0" encoding="UTF-8" standalone="yes"?><w:comments xmlns:w="{_W}">'
        f'<w:comment w:id="0" w:author="{AUTHOR}" w:initials="{INITIALS}" {_WHEN}>'
        "<w:p><w:r><w:t>Check the ledger of March.</w:t></w:r></w:p></w:comment></w:comments>"
    ).encode()
    people = (
        f'<?xml version="1.0" encoding="UTF-8" standalone="yes"?><w15:people xmlns:w15="{_W15}">'
        f'<w15:person w15:author="{AUTHOR}"><w15:presenceInfo w15:providerId="AD" '
        f'w15:userId="{DIRECTORY_ID}"/></w15:person>'
        f'<w15:person w15:author="{EMAIL}"><w15:presenceInfo w15:providerId="Windows Live" '
        'w15:userId="4f2a9c1b7e3d5a60"/></w15:person></w15:people>'
    ).encode()
    return _package(
        {
            "_rels/.rels": _rels(
                ("rId1", f"{_DOC}/relationships/officeDocument", "word/document.xml")
            ),
            "word/document.xml": document,
            "word/_rels/document.xml.rels": _rels(
                ("rId1", f"{_DOC}/relationships/comments", "comments.xml"),
                (
                    "rId2",
                    "http://schemas.microsoft.com/office/2011/relationships/people",
                    "people.xml",
                ),
            ),
            "word/comments.xml": comments,
            "word/people.xml": people,
        },
        {
            "word/document.xml": f"{_OPENXML}.wordprocessingml.document.main+xml",
            "word/comments.xml": f"{_OPENXML}.wordprocessingml.comments+xml",
            "word/people.xml": f"{_OPENXML}.wordprocessingml.people+xml",
        },
    )


def xlsx_with_comments() -> bytes:
    """A legacy comment (authors list), a threaded comment's person, and a revision header."""
    workbook = (
        f'<workbook xmlns="{_X}" xmlns:r="{_DOC}/relationships"><sheets>'
        '<sheet name="Payments" sheetId="1" r:id="rId1"/></sheets></workbook>'
    ).encode()
    sheet = (
        f'<worksheet xmlns="{_X}"><sheetData><row r="1"><c r="A1" t="inlineStr"><is><t>'
        "Cash to the chief</t></is></c></row></sheetData></worksheet>"
    ).encode()
    comments = (
        f'<comments xmlns="{_X}"><authors><author>{AUTHOR}</author><author>tc={{guid}}</author>'
        '</authors><commentList><comment ref="A1" authorId="0"><text><r><t>'
        "Ask about this row.</t></r></text></comment></commentList>"
        "</comments>"
    ).encode()
    persons = (
        '<personList xmlns="http://schemas.microsoft.com/office/spreadsheetml/2018/threadedcomments">'
        f'<person displayName="{AUTHOR}" id="{{0A1B2C3D-0000-4000-8000-000000000001}}" '
        f'userId="{EMAIL}" providerId="AD"/></personList>'
    ).encode()
    headers = (
        f'<headers xmlns="{_X}" guid="{{00000000-0000-0000-0000-000000000002}}">'
        f'<header guid="{{00000000-0000-0000-0000-000000000003}}" dateTime="2026-01-02T03:04:05" '
        f'maxSheetId="2" userName="{AUTHOR}" minRId="1" maxRId="2"/></headers>'
    ).encode()
    return _package(
        {
            "_rels/.rels": _rels(
                ("rId1", f"{_DOC}/relationships/officeDocument", "xl/workbook.xml")
            ),
            "xl/workbook.xml": workbook,
            "xl/_rels/workbook.xml.rels": _rels(
                ("rId1", f"{_DOC}/relationships/worksheet", "worksheets/sheet1.xml"),
                (
                    "rId2",
                    "http://schemas.microsoft.com/office/2017/10/relationships/person",
                    "persons/person.xml",
                ),
                ("rId3", f"{_DOC}/relationships/revisionHeaders", "revisions/revisionHeaders.xml"),
            ),
            "xl/worksheets/sheet1.xml": sheet,
            "xl/worksheets/_rels/sheet1.xml.rels": _rels(
                ("rId1", f"{_DOC}/relationships/comments", "../comments1.xml")
            ),
            "xl/comments1.xml": comments,
            "xl/persons/person.xml": persons,
            "xl/revisions/revisionHeaders.xml": headers,
        },
        {
            "xl/workbook.xml": f"{_OPENXML}.spreadsheetml.sheet.main+xml",
            "xl/worksheets/sheet1.xml": f"{_OPENXML}.spreadsheetml.worksheet+xml",
            "xl/comments1.xml": f"{_OPENXML}.spreadsheetml.comments+xml",
            "xl/persons/person.xml": "application/vnd.ms-excel.person+xml",
            "xl/revisions/revisionHeaders.xml": f"{_OPENXML}.spreadsheetml.revisionHeaders+xml",
        },
    )


def pptx_with_comments() -> bytes:
    """Legacy comment authors and modern comment authors (with directory ids)."""
    presentation = f'<p:presentation xmlns:p="{_P}"/>'.encode()
    comment_authors = (
        f'<p:cmAuthorLst xmlns:p="{_P}"><p:cmAuthor id="0" name="{AUTHOR}" '
        f'initials="{INITIALS}" lastIdx="1" clrIdx="0"/></p:cmAuthorLst>'
    ).encode()
    authors = (
        '<p188:authorLst xmlns:p188="http://schemas.microsoft.com/office/powerpoint/2018/8/main">'
        f'<p188:author id="{{0A1B2C3D-0000-4000-8000-000000000009}}" name="{AUTHOR}" '
        f'initials="{INITIALS}" userId="{DIRECTORY_ID}" providerId="AD"/></p188:authorLst>'
    ).encode()
    return _package(
        {
            "_rels/.rels": _rels(
                ("rId1", f"{_DOC}/relationships/officeDocument", "ppt/presentation.xml")
            ),
            "ppt/presentation.xml": presentation,
            "ppt/_rels/presentation.xml.rels": _rels(
                ("rId1", f"{_DOC}/relationships/commentAuthors", "commentAuthors.xml"),
                (
                    "rId2",
                    "http://schemas.microsoft.com/office/2018/10/relationships/authors",
                    "authors.xml",
                ),
            ),
            "ppt/commentAuthors.xml": comment_authors,
            "ppt/authors.xml": authors,
        },
        {
            "ppt/presentation.xml": f"{_OPENXML}.presentationml.presentation.main+xml",
            "ppt/commentAuthors.xml": f"{_OPENXML}.presentationml.commentAuthors+xml",
            "ppt/authors.xml": "application/vnd.ms-powerpoint.authors+xml",
        },
    )


def pdf_with_annotations() -> bytes:
    """A text note with its popup, and a form field whose /T is its name (to be kept)."""
    pdf = pikepdf.new()
    pdf.add_blank_page()
    page = pdf.pages[0]
    popup = pdf.make_indirect(
        pikepdf.Dictionary(
            Type=pikepdf.Name.Annot,
            Subtype=pikepdf.Name.Popup,
            Rect=[100, 100, 200, 200],
            T=pikepdf.String(AUTHOR),
        )
    )
    note = pdf.make_indirect(
        pikepdf.Dictionary(
            Type=pikepdf.Name.Annot,
            Subtype=pikepdf.Name.Text,
            Rect=[10, 10, 30, 30],
            Contents=pikepdf.String("Seen at the border crossing"),
            T=pikepdf.String(AUTHOR),
            M=pikepdf.String("D:20260102030405Z"),
            CreationDate=pikepdf.String("D:20260102030405Z"),
            Popup=popup,
        )
    )
    popup["/Parent"] = note
    field = pdf.make_indirect(
        pikepdf.Dictionary(
            Type=pikepdf.Name.Annot,
            Subtype=pikepdf.Name.Widget,
            FT=pikepdf.Name.Tx,
            Rect=[50, 50, 150, 70],
            T=pikepdf.String("badge_number"),
            V=pikepdf.String("4471"),
        )
    )
    page.obj["/Annots"] = pikepdf.Array([note, popup, field])
    pdf.Root["/AcroForm"] = pikepdf.Dictionary(Fields=pikepdf.Array([field]))
    out = io.BytesIO()
    pdf.save(out)
    return out.getvalue()


def odt_with_review() -> bytes:
    """An annotation (with initials) and a tracked insertion in content.xml."""
    office = "urn:oasis:names:tc:opendocument:xmlns:office:1.0"
    text = "urn:oasis:names:tc:opendocument:xmlns:text:1.0"
    meta = "urn:oasis:names:tc:opendocument:xmlns:meta:1.0"
    who = f"<dc:creator>{AUTHOR}</dc:creator><dc:date>2026-01-02T03:04:05</dc:date>"
    content = (
        f'<?xml version="1.0" encoding="UTF-8"?><office:document-content xmlns:office="{office}" '
        f'xmlns:text="{text}" xmlns:meta="{meta}" xmlns:dc="http://purl.org/dc/elements/1.1/" '
        'office:version="1.3"><office:body><office:text><text:tracked-changes>'
        '<text:changed-region text:id="ct1"><text:insertion><office:change-info>'
        f"{who}</office:change-info></text:insertion></text:changed-region></text:tracked-changes>"
        '<text:p>Payments went to <text:change-start text:change-id="ct1"/>the chief'
        '<text:change-end text:change-id="ct1"/>.<office:annotation>'
        f"{who}<meta:creator-initials>{INITIALS}</meta:creator-initials>"
        "<text:p>Check the ledger of March.</text:p></office:annotation></text:p>"
        "</office:text></office:body></office:document-content>"
    )
    manifest_ns = "urn:oasis:names:tc:opendocument:xmlns:manifest:1.0"
    manifest = (
        f'<?xml version="1.0" encoding="UTF-8"?><manifest:manifest xmlns:manifest="{manifest_ns}" '
        'manifest:version="1.3"><manifest:file-entry manifest:full-path="/" manifest:media-type='
        '"application/vnd.oasis.opendocument.text"/><manifest:file-entry '
        'manifest:full-path="content.xml" manifest:media-type="text/xml"/></manifest:manifest>'
    )
    return odt_package({"content.xml": content, "META-INF/manifest.xml": manifest})
