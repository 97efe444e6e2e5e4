"""Real evidence files with identifying metadata, built in memory for the sanitiser tests."""

from __future__ import annotations

import io
import zipfile
from collections.abc import Callable

import pikepdf
from PIL import Image, ImageCms
from PIL.PngImagePlugin import PngInfo

SECRET = "Agent Smith"
XMP = f'<x:xmpmeta xmlns:x="adobe:ns:meta/"><dc>{SECRET} xmp</dc></x:xmpmeta>'.encode()
DOCX_BODY = (
    b'<?xml version="1.0" encoding="UTF-8" standalone="yes"?>\n'
    b'<w:document xmlns:w="http://schemas.openxmlformats.org/wordprocessingml/2006/main" '
    b'xmlns:mc="http://schemas.openxmlformats.org/markup-compatibility/2006" mc:Ignorable="w14">'
    b"<w:body><w:p><w:r><w:t>The evidence itself.</w:t></w:r></w:p></w:body></w:document>"
)
_RELS_NS = "http://schemas.openxmlformats.org/package/2006/relationships"
_PKG = "http://schemas.openxmlformats.org/package/2006"
_DOC = "http://schemas.openxmlformats.org/officeDocument/2006"


def exif_with_gps() -> Image.Exif:
    exif = Image.Exif()
    exif[0x013B] = SECRET  # Artist
    exif[0x010F] = "SmithCam"  # Make
    gps = exif.get_ifd(0x8825)
    gps.update({1: "N", 2: (51.0, 30.0, 12.5), 3: "W", 4: (0.0, 7.0, 39.0)})
    return exif


def srgb_profile() -> bytes:
    return ImageCms.ImageCmsProfile(ImageCms.createProfile("sRGB")).tobytes()


def jpeg_file(size: tuple[int, int] = (64, 48)) -> bytes:
    out = io.BytesIO()
    Image.new("RGB", size, (200, 30, 30)).save(
        out,
        "JPEG",
        exif=exif_with_gps(),
        comment=f"{SECRET} comment".encode(),
        icc_profile=srgb_profile(),
        xmp=XMP,
    )
    return out.getvalue()


def png_file() -> bytes:
    info = PngInfo()
    info.add_text("Author", SECRET)
    info.add_text("Comment", f"{SECRET} compressed", zip=True)
    info.add_itxt("Description", f"{SECRET} international")
    info.add(b"tIME", bytes([7, 234, 1, 2, 3, 4, 5]))
    info.add(b"prVt", SECRET.encode())  # a private ancillary chunk
    out = io.BytesIO()
    Image.new("RGBA", (32, 32), (0, 128, 255, 128)).save(
        out, "PNG", pnginfo=info, exif=exif_with_gps(), icc_profile=srgb_profile()
    )
    return out.getvalue()


def webp_file(*, lossless: bool) -> bytes:
    out = io.BytesIO()
    Image.new("RGB", (40, 30), (10, 200, 10)).save(
        out, "WEBP", exif=exif_with_gps(), xmp=XMP, lossless=lossless, icc_profile=srgb_profile()
    )
    return out.getvalue()


def pdf_file() -> bytes:
    pdf = pikepdf.new()
    pdf.add_blank_page()
    pdf.docinfo["/Author"] = SECRET
    pdf.docinfo["/Creator"] = f"{SECRET}'s Writer"
    pdf.docinfo["/Producer"] = f"{SECRET} PDF"
    with pdf.open_metadata(set_pikepdf_as_editor=False) as meta:
        meta["dc:creator"] = [SECRET]
        meta["xmp:CreatorTool"] = f"{SECRET} tool"
    pdf.pages[0].obj["/PieceInfo"] = pikepdf.Dictionary(App=pikepdf.String(SECRET))
    out = io.BytesIO()
    pdf.save(out)
    return out.getvalue()


def core_xml(creator: str = SECRET) -> bytes:
    return (
        '<?xml version="1.0" encoding="UTF-8" standalone="yes"?>\n'
        f'<cp:coreProperties xmlns:cp="{_PKG}/metadata/core-properties" '
        'xmlns:dc="http://purl.org/dc/elements/1.1/" xmlns:dcterms="http://purl.org/dc/terms/" '
        'xmlns:xsi="http://www.w3.org/2001/XMLSchema-instance">'
        f"<dc:title>Budget</dc:title><dc:creator>{creator}</dc:creator>"
        f"<cp:lastModifiedBy>{creator}</cp:lastModifiedBy><cp:revision>7</cp:revision>"
        '<dcterms:created xsi:type="dcterms:W3CDTF">2026-01-02T03:04:05Z</dcterms:created>'
        "</cp:coreProperties>"
    ).encode()


def app_xml() -> bytes:
    return (
        '<?xml version="1.0" encoding="UTF-8" standalone="yes"?>\n'
        f'<Properties xmlns="{_DOC}/extended-properties" xmlns:vt="{_DOC}/docPropsVTypes">'
        "<Application>Microsoft Office Word</Application><Pages>1</Pages>"
        f"<Company>{SECRET} Inc</Company><Manager>{SECRET}'s boss</Manager>"
        f"<Template>C:\\Users\\{SECRET}\\Normal.dotm</Template></Properties>"
    ).encode()


def custom_xml() -> bytes:
    return (
        f'<Properties xmlns="{_DOC}/custom-properties" xmlns:vt="{_DOC}/docPropsVTypes">'
        '<property fmtid="{D5CDD505-2E9C-101B-9397-08002B2CF9AE}" pid="2" name="Owner">'
        f"<vt:lpwstr>{SECRET}@example.org</vt:lpwstr></property></Properties>"
    ).encode()


def _ooxml(main: str, body: bytes, main_type: str) -> bytes:
    content_types = (
        '<?xml version="1.0" encoding="UTF-8"?>'
        f'<Types xmlns="{_PKG}/content-types">'
        '<Default Extension="rels" ContentType="application/vnd.openxmlformats-package.'
        'relationships+xml"/><Default Extension="xml" ContentType="application/xml"/>'
        '<Default Extension="jpeg" ContentType="image/jpeg"/>'
        f'<Override PartName="/{main}" ContentType="{main_type}"/>'
        '<Override PartName="/docProps/core.xml" ContentType="application/vnd.openxmlformats-'
        'package.core-properties+xml"/>'
        '<Override PartName="/docProps/thumbnail.jpeg" ContentType="image/jpeg"/>'
        "</Types>"
    )
    rels = (
        f'<?xml version="1.0" encoding="UTF-8"?><Relationships xmlns="{_RELS_NS}">'
        f'<Relationship Id="rId1" Type="{_DOC}/relationships/officeDocument" Target="{main}"/>'
        f'<Relationship Id="rId2" Type="{_PKG}/relationships/metadata/core-properties" '
        'Target="docProps/core.xml"/>'
        f'<Relationship Id="rId3" Type="{_DOC}/relationships/extended-properties" '
        'Target="docProps/app.xml"/>'
        f'<Relationship Id="rId4" Type="{_DOC}/relationships/custom-properties" '
        'Target="docProps/custom.xml"/>'
        f'<Relationship Id="rId5" Type="{_PKG}/relationships/metadata/thumbnail" '
        'Target="docProps/thumbnail.jpeg"/></Relationships>'
    )
    out = io.BytesIO()
    with zipfile.ZipFile(out, "w", zipfile.ZIP_DEFLATED) as z:
        stamp = (2026, 3, 4, 5, 6, 8)
        z.writestr(zipfile.ZipInfo("[Content_Types].xml", stamp), content_types)
        z.writestr(zipfile.ZipInfo("_rels/.rels", stamp), rels)
        z.writestr(zipfile.ZipInfo(main, stamp), body)
        z.writestr("docProps/core.xml", core_xml())
        z.writestr("docProps/app.xml", app_xml())
        z.writestr("docProps/custom.xml", custom_xml())
        z.writestr("docProps/thumbnail.jpeg", jpeg_file((8, 8)))
        z.writestr(main.split("/")[0] + "/media/image1.jpeg", jpeg_file())
        z.comment = SECRET.encode()
    return out.getvalue()


def docx_file() -> bytes:
    main_type = "application/vnd.openxmlformats-officedocument.wordprocessingml.document.main+xml"
    return _ooxml("word/document.xml", DOCX_BODY, main_type)


def xlsx_file() -> bytes:
    body = (
        b'<workbook xmlns="http://schemas.openxmlformats.org/spreadsheetml/2006/main">'
        b'<sheets><sheet name="Payments" sheetId="1"/></sheets></workbook>'
    )
    main_type = "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet.main+xml"
    return _ooxml("xl/workbook.xml", body, main_type)


def odt_package(parts: dict[str, str | bytes]) -> bytes:
    """An OpenDocument text: the uncompressed mimetype entry first, then `parts` in order."""
    out = io.BytesIO()
    with zipfile.ZipFile(out, "w", zipfile.ZIP_DEFLATED) as z:
        z.writestr(zipfile.ZipInfo("mimetype"), "application/vnd.oasis.opendocument.text")
        for name, data in parts.items():
            z.writestr(name, data)
    return out.getvalue()


def odt_file() -> bytes:
    office = "urn:oasis:names:tc:opendocument:xmlns:office:1.0"
    meta_ns = "urn:oasis:names:tc:opendocument:xmlns:meta:1.0"
    meta = (
        f'<?xml version="1.0" encoding="UTF-8"?><office:document-meta xmlns:office="{office}" '
        f'xmlns:meta="{meta_ns}" xmlns:dc="http://purl.org/dc/elements/1.1/" office:version="1.3">'
        f"<office:meta><meta:initial-creator>{SECRET}</meta:initial-creator>"
        f"<dc:creator>{SECRET}</dc:creator><meta:creation-date>2026-01-02T03:04:05</meta:creation-date>"
        "<meta:editing-cycles>12</meta:editing-cycles><meta:generator>LibreOffice/7.6</meta:generator>"
        f'<meta:user-defined meta:name="Desk">{SECRET} desk</meta:user-defined>'
        '<meta:document-statistic meta:page-count="1"/><dc:language>en-GB</dc:language>'
        "</office:meta></office:document-meta>"
    )
    manifest_ns = "urn:oasis:names:tc:opendocument:xmlns:manifest:1.0"
    manifest = (
        f'<?xml version="1.0" encoding="UTF-8"?><manifest:manifest xmlns:manifest="{manifest_ns}" '
        'manifest:version="1.3">'
        '<manifest:file-entry manifest:full-path="/" manifest:media-type='
        '"application/vnd.oasis.opendocument.text"/>'
        '<manifest:file-entry manifest:full-path="content.xml" manifest:media-type="text/xml"/>'
        '<manifest:file-entry manifest:full-path="meta.xml" manifest:media-type="text/xml"/>'
        '<manifest:file-entry manifest:full-path="settings.xml" manifest:media-type="text/xml"/>'
        '<manifest:file-entry manifest:full-path="Thumbnails/thumbnail.png" '
        'manifest:media-type="image/png"/></manifest:manifest>'
    )
    config = "urn:oasis:names:tc:opendocument:xmlns:config:1.0"
    settings = (
        f'<office:document-settings xmlns:office="{office}" xmlns:config="{config}">'
        '<office:settings><config:config-item-set config:name="ooo:configuration-settings">'
        f'<config:config-item config:name="PrinterName" config:type="string">{SECRET}-HP-4th-floor'
        '</config:config-item><config:config-item config:name="PrinterSetup" '
        'config:type="base64Binary">c2VjcmV0</config:config-item>'
        '<config:config-item config:name="TabsRelativeToIndent" config:type="boolean">true'
        "</config:config-item></config:config-item-set></office:settings>"
        "</office:document-settings>"
    )
    return odt_package(
        {
            "content.xml": f'<office:document-content xmlns:office="{office}"/>',
            "meta.xml": meta,
            "settings.xml": settings,
            "Thumbnails/thumbnail.png": png_file(),
            "Pictures/photo.png": png_file(),
            "META-INF/manifest.xml": manifest,
        }
    )


# Every kind the sanitiser cleans, each carrying identifying metadata.
BY_KIND: dict[str, Callable[[], bytes]] = {
    "jpeg": jpeg_file,
    "png": png_file,
    "webp": lambda: webp_file(lossless=True),
    "pdf": pdf_file,
    "docx": docx_file,
    "xlsx": xlsx_file,
    "odt": odt_file,
}


def docx_zip_bomb(inflated_mib: int = 100) -> bytes:
    """The sample .docx (with its author) plus a media entry of zeros: under 1 MiB, inflating
    to `inflated_mib` MiB."""
    out = io.BytesIO()
    with (
        zipfile.ZipFile(io.BytesIO(docx_file())) as source,
        zipfile.ZipFile(out, "w", zipfile.ZIP_DEFLATED) as bomb,
    ):
        for info in source.infolist():
            bomb.writestr(info, source.read(info))
        with bomb.open("word/media/filler.bin", "w") as filler:
            for _ in range(inflated_mib):
                filler.write(bytes(1 << 20))
    return out.getvalue()


def replace_entry(package: bytes, name: str, data: bytes) -> bytes:
    out = io.BytesIO()
    with zipfile.ZipFile(io.BytesIO(package)) as zin, zipfile.ZipFile(out, "w") as zout:
        for info in zin.infolist():
            zout.writestr(info, data if info.filename == name else zin.read(info))
    return out.getvalue()


def unzipped_text(package: bytes) -> bytes:
    """Every entry inflated and concatenated, to search for strings hidden by compression."""
    with zipfile.ZipFile(io.BytesIO(package)) as z:
        return b"".join(z.read(info) for info in z.infolist()) + package
