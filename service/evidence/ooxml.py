"""OOXML (docx, xlsx, pptx) cleaning plan.

Document properties: docProps/core.xml loses every property (creator, lastModifiedBy, created,
modified, lastPrinted, revision, title, subject, keywords, description, category, ...); custom.xml
is emptied (sensitivity labels with tenant ids, whatever a template put there); app.xml loses
Company, Manager, Template (a path that often names a user), HyperlinkBase and TotalTime; the
thumbnail part goes with its relationship and content-type override (a stale thumbnail can show
an older version). Parts are found through the package relationships, with the usual names as
fallback. Review traces (`review`): authors of comments and tracked changes, and the people part.

Imports this package's office XML helpers and the standard library.
"""

from __future__ import annotations

import posixpath
import zipfile

from service.evidence.office_xml import (
    Budget,
    Plan,
    parse,
    read_part,
    remove,
    remove_children,
    serialise,
)
from service.evidence.review import plan_review

__all__ = ["CONTENT_TYPES", "plan_ooxml"]

CONTENT_TYPES = "[Content_Types].xml"
_PACKAGE_RELS = "_rels/.rels"
_APP_IDENTIFYING = frozenset({"Company", "Manager", "Template", "HyperlinkBase", "TotalTime"})
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


def plan_ooxml(zin: zipfile.ZipFile, names: list[str], budget: Budget) -> Plan:
    plan = Plan()
    by_lower = {name.lower(): name for name in names}
    roles: dict[str, str] = {name: role for name, role in _FALLBACK.items() if name in names}
    rels = parse(read_part(zin, _PACKAGE_RELS, budget))
    dropped_rel = False
    for rel in rels.getElementsByTagNameNS("*", "Relationship"):
        if rel.getAttribute("TargetMode") == "External":
            continue
        role = _ROLES.get(rel.getAttribute("Type").rsplit("/", 1)[-1].lower())
        part = by_lower.get(posixpath.normpath(rel.getAttribute("Target").lstrip("/")).lower())
        if role == "thumbnail":
            remove(rel)
            dropped_rel = True
        if role is not None and part is not None:
            roles[part] = role
    for name in names:
        if name.lower().startswith("docprops/thumbnail."):
            roles[name] = "thumbnail"
    for part, role in roles.items():
        _plan_part(zin, plan, part, role, budget)
    if dropped_rel:
        plan.replace[_PACKAGE_RELS] = serialise(rels)
    plan_review(zin, names, plan, budget)
    if plan.drop:
        _drop_content_type_overrides(zin, plan, budget)
    return plan


def _plan_part(zin: zipfile.ZipFile, plan: Plan, part: str, role: str, budget: Budget) -> None:
    if role == "thumbnail":
        plan.drop.add(part)
        plan.removed["thumbnail"] = None
        return
    doc = parse(read_part(zin, part, budget))
    root = doc.documentElement
    if root is None:
        raise ValueError("empty XML part")
    if role == "app":
        found = remove_children(root, lambda el: el.localName not in _APP_IDENTIFYING)
    else:  # core and custom: every property goes
        found = remove_children(root, lambda el: False)
    plan.replace[part] = serialise(doc)
    if found:
        plan.removed[f"{role}_properties"] = None


def _drop_content_type_overrides(zin: zipfile.ZipFile, plan: Plan, budget: Budget) -> None:
    doc = parse(read_part(zin, CONTENT_TYPES, budget))
    dropped = {name.lower() for name in plan.drop}
    for override in doc.getElementsByTagNameNS("*", "Override"):
        if override.getAttribute("PartName").lstrip("/").lower() in dropped:
            remove(override)
    plan.replace[CONTENT_TYPES] = serialise(doc)
