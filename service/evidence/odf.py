"""OpenDocument (odt, ods, odp) cleaning plan: meta.xml keeps only document statistics and
language; Thumbnails/ goes with its manifest entries; settings.xml loses the printer name and
printer set-up; in content.xml and styles.xml, the author of each annotation and tracked change
(`dc:creator` under `office:annotation` or `office:change-info`) becomes "Author" and the
annotation's initials go. The annotations and changes themselves, and their dates (the schema
requires them on changes), stay.

Imports this package's office XML helpers and the standard library.
"""

from __future__ import annotations

import re
import zipfile

from service.evidence.office_xml import (
    Budget,
    Plan,
    mentions,
    parse,
    read_part,
    remove,
    remove_children,
    serialise,
)
from service.evidence.review import ANONYMOUS

__all__ = ["plan_odf"]

_ODF_META_KEEP = frozenset({"document-statistic", "language"})
_ODF_PRINTER = frozenset({"PrinterName", "PrinterSetup"})
_MANIFEST_NS = "urn:oasis:names:tc:opendocument:xmlns:manifest:1.0"
_CONFIG_NS = "urn:oasis:names:tc:opendocument:xmlns:config:1.0"
_OFFICE_NS = "urn:oasis:names:tc:opendocument:xmlns:office:1.0"
_DC_NS = "http://purl.org/dc/elements/1.1/"
_REVIEWED = frozenset({"annotation", "change-info"})  # office: elements that name their author
_INITIALS = frozenset({"creator-initials", "sender-initials"})
_CREATOR = re.compile(rb":creator[\s>]")


def plan_odf(zin: zipfile.ZipFile, names: list[str], budget: Budget) -> Plan:
    plan = Plan()
    for name in ("content.xml", "styles.xml"):
        if name in names and mentions(zin, name, _CREATOR, budget):
            _anonymise_review(zin, name, plan, budget)
    if "meta.xml" in names:
        doc = parse(read_part(zin, "meta.xml"))
        found = False
        for meta in doc.getElementsByTagNameNS("*", "meta"):
            found |= remove_children(meta, lambda el: el.localName in _ODF_META_KEEP)
        plan.replace["meta.xml"] = serialise(doc)
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


def _drop_manifest_entries(zin: zipfile.ZipFile, plan: Plan) -> None:
    doc = parse(read_part(zin, "META-INF/manifest.xml"))
    for entry in doc.getElementsByTagNameNS(_MANIFEST_NS, "file-entry"):
        if entry.getAttributeNS(_MANIFEST_NS, "full-path").startswith("Thumbnails/"):
            remove(entry)
    plan.replace["META-INF/manifest.xml"] = serialise(doc)


def _drop_printer_settings(zin: zipfile.ZipFile, plan: Plan) -> None:
    doc = parse(read_part(zin, "settings.xml"))
    found = False
    for item in doc.getElementsByTagNameNS(_CONFIG_NS, "config-item"):
        if item.getAttributeNS(_CONFIG_NS, "name") in _ODF_PRINTER:
            remove(item)
            found = True
    if found:
        plan.replace["settings.xml"] = serialise(doc)
        plan.removed["printer_settings"] = None


def _anonymise_review(zin: zipfile.ZipFile, name: str, plan: Plan, budget: Budget) -> None:
    doc = parse(read_part(zin, name, budget))
    changed = False
    for creator in doc.getElementsByTagNameNS(_DC_NS, "creator"):
        parent = creator.parentNode
        if getattr(parent, "namespaceURI", None) != _OFFICE_NS:
            continue
        if getattr(parent, "localName", None) not in _REVIEWED:
            continue
        children = list(creator.childNodes)
        if len(children) == 1 and getattr(children[0], "data", None) == ANONYMOUS:
            continue
        for child in children:
            creator.removeChild(child)
        creator.appendChild(doc.createTextNode(ANONYMOUS))
        changed = True
    for element in doc.getElementsByTagNameNS("*", "*"):
        if element.localName in _INITIALS:
            remove(element)
            changed = True
    if changed:
        plan.replace[name] = serialise(doc)
        plan.removed["review_authors"] = None
