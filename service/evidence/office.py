"""OOXML (docx, xlsx, pptx) and ODF (odt, ods, odp) cleaning: the zip is rebuilt in memory.

OOXML: docProps/core.xml loses every property (creator, lastModifiedBy, created, modified,
lastPrinted, revision, title, subject, keywords, description, category, ...); custom.xml is emptied
(it holds sensitivity labels with tenant ids, and whatever a template put there); app.xml loses
Company, Manager, Template (a path that often names a user), HyperlinkBase and TotalTime; the
thumbnail part goes with its relationship and content-type override (a stale thumbnail can show an
older version). Parts are found through the package relationships, with the usual names as fallback.
ODF: meta.xml keeps only document statistics and language; Thumbnails/ goes with its manifest
entries; settings.xml loses the printer name and printer set-up.
Both: JPEG and PNG images under media/ or Pictures/ go through the image filters (a photo pasted
into a report keeps its GPS otherwise); zip timestamps, comments and extra fields (Unix uid/gid) go;
other parts are copied unchanged, `mimetype` stays first and stored. Not touched: authors of tracked
changes and comments inside the main parts, and embedded objects (OLE, other image formats).

XML is parsed by defusedxml with DTDs, entities and external references forbidden (no XML bombs),
and only parts up to 4 MiB; inflating more than 12 times the file (at least 64 MiB, at most 512 MiB)
is refused as a zip bomb and the file is stored as it came (too_large_to_clean). Any failure
raises, and the caller stores the original and reports it unreadable.

Imports defusedxml, the image filters of this package and the standard library.
"""

from __future__ import annotations

import io
import posixpath
import zipfile
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from typing import IO
from xml.dom.minidom import Document, Element

import defusedxml.minidom

from service.evidence.jpeg import JpegFilter
from service.evidence.png import SIGNATURE as PNG_SIGNATURE
from service.evidence.png import PngFilter
from service.evidence.report import TooLargeToClean

__all__ = ["NotOffice", "clean_office", "zip_kind"]

_MAX_PART = 4 << 20
_MAX_INFLATED = 512 << 20
_MIN_INFLATED = 64 << 20
_MAX_RATIO = 12
_COPY = 64 * 1024
_ZIP_EPOCH = (1980, 1, 1, 0, 0, 0)
_ODF_MIME = b"application/vnd.oasis.opendocument."
_CONTENT_TYPES = "[Content_Types].xml"
_PACKAGE_RELS = "_rels/.rels"
_APP_IDENTIFYING = frozenset({"Company", "Manager", "Template", "HyperlinkBase", "TotalTime"})
_ODF_META_KEEP = frozenset({"document-statistic", "language"})
_ODF_PRINTER = frozenset({"PrinterName", "PrinterSetup"})
_MANIFEST_NS = "urn:oasis:names:tc:opendocument:xmlns:manifest:1.0"
_CONFIG_NS = "urn:oasis:names:tc:opendocument:xmlns:config:1.0"
# Relationship types by their last path segment, transitional and strict spellings alike.
_ROLES = {
    "core-properties": "core",
    "coreproperties": "core",
    "extended-properties": "app",
    "extendedproperties": "app",
    "custom-properties": "custom",
    "customproperties": "custom",
    "thumbnail": "thumbnail",
}
_FALLBACK = {
    "docProps/core.xml": "core",
    "docProps/app.xml": "app",
    "docProps/custom.xml": "custom",
}


class NotOffice(Exception):
    """A zip that is neither an OOXML nor an ODF package."""


@dataclass
class _Plan:
    drop: set[str] = field(default_factory=set)
    replace: dict[str, bytes] = field(default_factory=dict)
    removed: dict[str, None] = field(default_factory=dict)


def zip_kind(head: bytes) -> str:
    """From the first local header: "odf", "ooxml" or "other" (for files too large to open)."""
    if head[:4] != b"PK\x03\x04" or len(head) < 30:
        return "other"
    name_len = int.from_bytes(head[26:28], "little")
    extra_len = int.from_bytes(head[28:30], "little")
    name = head[30 : 30 + name_len]
    if name == b"mimetype" and head[30 + name_len + extra_len :].startswith(_ODF_MIME):
        return "odf"
    if name in (b"[Content_Types].xml", b"_rels/.rels"):
        return "ooxml"
    return "ooxml" if name.startswith((b"docProps/", b"word/", b"xl/", b"ppt/")) else "other"


def clean_office(data: bytes) -> tuple[str, bytes, tuple[str, ...]]:
    """(kind, cleaned file, removal codes); NotOffice for other zips, other errors if unreadable."""
    with zipfile.ZipFile(io.BytesIO(data)) as zin:
        infos = zin.infolist()
        names = [info.filename for info in infos]
        if len(set(names)) != len(names):
            raise ValueError("duplicate zip entries")  # readers disagree on which copy counts
        if names and names[0] == "mimetype" and _read(zin, "mimetype").startswith(_ODF_MIME):
            kind, plan = "odf", _plan_odf(zin, names)
        elif _CONTENT_TYPES in names:
            kind, plan = "ooxml", _plan_ooxml(zin, names)
        else:
            raise NotOffice("not an office document")
        cleaned = _rebuild(zin, infos, plan, _inflation_budget(len(data)))
        return kind, cleaned, tuple(plan.removed)


# --- OOXML ---------------------------------------------------------------------------------------


def _plan_ooxml(zin: zipfile.ZipFile, names: list[str]) -> _Plan:
    plan = _Plan()
    by_lower = {name.lower(): name for name in names}
    roles: dict[str, str] = {name: role for name, role in _FALLBACK.items() if name in names}
    rels = _parse(_read(zin, _PACKAGE_RELS))
    dropped_rel = False
    for rel in rels.getElementsByTagNameNS("*", "Relationship"):
        if rel.getAttribute("TargetMode") == "External":
            continue
        role = _ROLES.get(rel.getAttribute("Type").rsplit("/", 1)[-1].lower())
        part = by_lower.get(posixpath.normpath(rel.getAttribute("Target").lstrip("/")).lower())
        if role == "thumbnail":
            _remove(rel)
            dropped_rel = True
        if role is not None and part is not None:
            roles[part] = role
    for name in names:
        if name.lower().startswith("docprops/thumbnail."):
            roles[name] = "thumbnail"
    for part, role in roles.items():
        _plan_ooxml_part(zin, plan, part, role)
    if dropped_rel:
        plan.replace[_PACKAGE_RELS] = _serialise(rels)
    if plan.drop:
        _drop_content_type_overrides(zin, plan)
    return plan


def _plan_ooxml_part(zin: zipfile.ZipFile, plan: _Plan, part: str, role: str) -> None:
    if role == "thumbnail":
        plan.drop.add(part)
        plan.removed["thumbnail"] = None
        return
    doc = _parse(_read(zin, part))
    root = doc.documentElement
    if root is None:
        raise ValueError("empty XML part")
    if role == "app":
        found = _remove_children(root, lambda el: el.localName not in _APP_IDENTIFYING)
    else:  # core and custom: every property goes
        found = _remove_children(root, lambda el: False)
    plan.replace[part] = _serialise(doc)
    if found:
        plan.removed[f"{role}_properties"] = None


def _drop_content_type_overrides(zin: zipfile.ZipFile, plan: _Plan) -> None:
    doc = _parse(_read(zin, _CONTENT_TYPES))
    dropped = {name.lower() for name in plan.drop}
    for override in doc.getElementsByTagNameNS("*", "Override"):
        if override.getAttribute("PartName").lstrip("/").lower() in dropped:
            _remove(override)
    plan.replace[_CONTENT_TYPES] = _serialise(doc)


# --- ODF -----------------------------------------------------------------------------------------


def _plan_odf(zin: zipfile.ZipFile, names: list[str]) -> _Plan:
    plan = _Plan()
    if "meta.xml" in names:
        doc = _parse(_read(zin, "meta.xml"))
        found = False
        for meta in doc.getElementsByTagNameNS("*", "meta"):
            found |= _remove_children(meta, lambda el: el.localName in _ODF_META_KEEP)
        plan.replace["meta.xml"] = _serialise(doc)
        if found:
            plan.removed["odf_meta"] = None
    thumbnails = {name for name in names if name.startswith("Thumbnails/")}
    if thumbnails:
        plan.drop |= thumbnails
        plan.removed["thumbnail"] = None
        if "META-INF/manifest.xml" in names:
            _drop_manifest_entries(zin, plan)
    if "settings.xml" in names:
        _drop_printer_settings(zin, plan)
    return plan


def _drop_manifest_entries(zin: zipfile.ZipFile, plan: _Plan) -> None:
    doc = _parse(_read(zin, "META-INF/manifest.xml"))
    for entry in doc.getElementsByTagNameNS(_MANIFEST_NS, "file-entry"):
        if entry.getAttributeNS(_MANIFEST_NS, "full-path").startswith("Thumbnails/"):
            _remove(entry)
    plan.replace["META-INF/manifest.xml"] = _serialise(doc)


def _drop_printer_settings(zin: zipfile.ZipFile, plan: _Plan) -> None:
    doc = _parse(_read(zin, "settings.xml"))
    found = False
    for item in doc.getElementsByTagNameNS(_CONFIG_NS, "config-item"):
        if item.getAttributeNS(_CONFIG_NS, "name") in _ODF_PRINTER:
            _remove(item)
            found = True
    if found:
        plan.replace["settings.xml"] = _serialise(doc)
        plan.removed["printer_settings"] = None


# --- zip and XML helpers -------------------------------------------------------------------------


def _inflation_budget(size: int) -> int:
    """Real documents inflate a few times over (images barely at all); a bomb inflates a
    thousand times. Scale the allowance with the input, so 20 small bombs cost little CPU."""
    return min(_MAX_INFLATED, max(_MIN_INFLATED, _MAX_RATIO * size))


def _rebuild(
    zin: zipfile.ZipFile, infos: Iterable[zipfile.ZipInfo], plan: _Plan, budget: int
) -> bytes:
    out = io.BytesIO()
    with zipfile.ZipFile(out, "w") as zout:
        for info in infos:
            if info.filename in plan.drop:
                continue
            new = _fresh_info(info, zin, plan)
            if info.filename in plan.replace:
                zout.writestr(new, plan.replace[info.filename])
                continue
            with zin.open(info) as src, zout.open(new, "w") as dst:
                budget = _copy(src, dst, budget, plan, media=_is_media(info.filename))
    return out.getvalue()


def _fresh_info(info: zipfile.ZipInfo, zin: zipfile.ZipFile, plan: _Plan) -> zipfile.ZipInfo:
    """The entry's name and compression only: no times, comments or extra fields (uid/gid)."""
    if info.date_time != _ZIP_EPOCH:
        plan.removed["zip_timestamps"] = None
    if info.comment or zin.comment:
        plan.removed["zip_comments"] = None
    new = zipfile.ZipInfo(info.filename, date_time=_ZIP_EPOCH)
    stored = info.filename == "mimetype" or info.compress_type == zipfile.ZIP_STORED
    new.compress_type = zipfile.ZIP_STORED if stored else zipfile.ZIP_DEFLATED
    new.external_attr = (0o40755 << 16) | 0x10 if info.is_dir() else 0o644 << 16
    return new


def _is_media(name: str) -> bool:
    return "/media/" in name or name.startswith("Pictures/")


def _copy(src: IO[bytes], dst: IO[bytes], budget: int, plan: _Plan, *, media: bool) -> int:
    """Copy one entry, cleaning it on the way if it is an embedded JPEG or PNG; returns the budget
    of inflated bytes left."""
    image: JpegFilter | PngFilter | None = None
    first = True
    while piece := src.read(_COPY):
        budget -= len(piece)
        if budget < 0:
            raise TooLargeToClean("inflates to too much data")
        if first and media:
            image = JpegFilter() if piece.startswith(b"\xff\xd8\xff") else None
            image = PngFilter() if piece.startswith(PNG_SIGNATURE) else image
        first = False
        dst.write(piece if image is None else image.feed(piece))
    if image is not None:
        dst.write(image.finish())
        plan.removed.update(dict.fromkeys(image.report.removed))
    return budget


def _read(zin: zipfile.ZipFile, name: str) -> bytes:
    with zin.open(name) as part:
        data = part.read(_MAX_PART + 1)
    if len(data) > _MAX_PART:
        raise ValueError("XML part too large")
    return data


def _parse(data: bytes) -> Document:
    # DTDs are never legitimate in these packages; refusing them also refuses entity bombs.
    doc: Document = defusedxml.minidom.parseString(
        data, forbid_dtd=True, forbid_entities=True, forbid_external=True
    )
    return doc


def _serialise(doc: Document) -> bytes:
    return doc.toxml(encoding="UTF-8")


def _remove(node: Element) -> None:
    if node.parentNode is not None:
        node.parentNode.removeChild(node)


def _remove_children(parent: Element, keep: Callable[[Element], bool]) -> bool:
    """Remove child elements that `keep` rejects; True if any of them had text or attributes."""
    found = False
    for child in list(parent.childNodes):
        if isinstance(child, Element) and not keep(child):
            found |= child.hasAttributes() or child.hasChildNodes()
            parent.removeChild(child)
    return found
