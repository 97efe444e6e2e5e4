"""OpenDocument (odt, ods, odp) cleaning plan: meta.xml keeps only document statistics and
language; Thumbnails/ goes with its manifest entries; settings.xml loses the printer name and
printer set-up.

Imports this package's office XML helpers and the standard library.
"""

from __future__ import annotations

import zipfile

from service.evidence.office_xml import Plan, parse, read_part, remove, remove_children, serialise

__all__ = ["plan_odf"]

_ODF_META_KEEP = frozenset({"document-statistic", "language"})
_ODF_PRINTER = frozenset({"PrinterName", "PrinterSetup"})
_MANIFEST_NS = "urn:oasis:names:tc:opendocument:xmlns:manifest:1.0"
_CONFIG_NS = "urn:oasis:names:tc:opendocument:xmlns:config:1.0"


def plan_odf(zin: zipfile.ZipFile, names: list[str]) -> Plan:
    plan = Plan()
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
