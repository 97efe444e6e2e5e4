"""Review traces in OOXML packages: who commented, who changed what, and who they are.

Word: on every element of the wordprocessingml namespace (tracked insertions, deletions, moves,
formatting and table changes, comments), `w:author` becomes "Author" and `w:initials` and
`w:date` go; word/people.xml (display names, directory user ids and e-mail addresses of everyone
who commented or edited) goes with its relationship and content-type override. Excel: comment
`<author>` names, threaded-comment persons (display name, user id, provider) and the user names
of shared-workbook revisions. PowerPoint: comment authors, legacy and modern (name, initials,
user id, provider). The comments and changes themselves are evidence and stay, as written; so
do the author indexes they refer to, so the file still opens.

Only parts that can hold these traces are parsed: every Word XML part that has a namespaced
`author` attribute, and Excel's and PowerPoint's comment, person, author and revision parts.

Imports this package's office XML helpers and the standard library.
"""

from __future__ import annotations

import posixpath
import re
import zipfile
from xml.dom.minidom import Document, Element

from service.evidence.office_xml import Budget, Plan, mentions, parse, read_part, serialise

__all__ = ["ANONYMOUS", "plan_review"]

ANONYMOUS = "Author"  # what Word itself writes when it removes personal information
_W_NS = frozenset(
    {
        "http://schemas.openxmlformats.org/wordprocessingml/2006/main",
        "http://purl.oclc.org/ooxml/wordprocessingml/main",
    }
)
_X_NS = frozenset(
    {
        "http://schemas.openxmlformats.org/spreadsheetml/2006/main",
        "http://purl.oclc.org/ooxml/spreadsheetml/main",
    }
)
# Word: attributes of the w namespace on any element; None removes the attribute.
_WORD_ATTRIBUTES: dict[str, str | None] = {"author": ANONYMOUS, "initials": None, "date": None}
# Excel and PowerPoint review parts: (element, unqualified attribute) -> replacement.
_ATTRIBUTES: dict[tuple[str, str], str | None] = {
    ("cmAuthor", "name"): ANONYMOUS,
    ("cmAuthor", "initials"): "A",
    ("author", "name"): ANONYMOUS,
    ("author", "initials"): "A",
    ("author", "userId"): ANONYMOUS,
    ("author", "providerId"): "None",
    ("person", "displayName"): ANONYMOUS,
    ("person", "userId"): None,
    ("person", "providerId"): None,
    ("header", "userName"): ANONYMOUS,
    ("userInfo", "name"): ANONYMOUS,
}
_WORD_PART = re.compile(r"word/(?!.*_rels/).+\.xml", re.IGNORECASE)
_REVIEW_PART = re.compile(
    r"xl/comments[^/]*\.xml|xl/(persons|revisions)/[^/]+\.xml|ppt/(commentAuthors|authors)\.xml",
    re.IGNORECASE,
)
_WORD_TRACE = re.compile(rb":author\s*=")


def plan_review(zin: zipfile.ZipFile, names: list[str], plan: Plan, budget: Budget) -> None:
    """Add the people part's removal and anonymised review parts to `plan`."""
    _drop_people(zin, names, plan, budget)
    for name in names:
        if name in plan.drop or name in plan.replace:
            continue
        if _REVIEW_PART.fullmatch(name):
            doc = parse(read_part(zin, name, budget))
        elif _WORD_PART.fullmatch(name) and mentions(zin, name, _WORD_TRACE, budget):
            doc = parse(read_part(zin, name, budget))
        else:
            continue
        if _anonymise(doc):
            plan.replace[name] = serialise(doc)
            plan.removed["review_authors"] = None


def _anonymise(doc: Document) -> bool:
    changed = False
    for element in doc.getElementsByTagNameNS("*", "*"):
        changed |= _anonymise_attributes(element)
        if element.localName == "author" and element.namespaceURI in _X_NS:
            changed |= _anonymise_text(doc, element)
    return changed


def _anonymise_attributes(element: Element) -> bool:
    changed = False
    for attr in list(element.attributes.values()):
        if attr.namespaceURI in _W_NS:
            rule = _WORD_ATTRIBUTES.get(attr.localName, ANONYMOUS)
            known = attr.localName in _WORD_ATTRIBUTES
        else:
            key = (element.localName, attr.localName)
            rule, known = _ATTRIBUTES.get(key), key in _ATTRIBUTES
        if not known or attr.value == rule:
            continue
        if rule is None:
            element.removeAttributeNode(attr)
        else:
            attr.value = rule
        changed = True
    return changed


def _anonymise_text(doc: Document, element: Element) -> bool:
    """An Excel comment author's name, kept as an entry so author indexes still resolve."""
    children = list(element.childNodes)
    if len(children) == 1 and getattr(children[0], "data", None) == ANONYMOUS:
        return False
    for child in children:
        element.removeChild(child)
    element.appendChild(doc.createTextNode(ANONYMOUS))
    return True


def _drop_people(zin: zipfile.ZipFile, names: list[str], plan: Plan, budget: Budget) -> None:
    """word/people.xml goes, with the relationships that point at it."""
    by_lower = {name.lower(): name for name in names}
    people = {name for name in names if name.lower() == "word/people.xml"}
    for rels_name in names:
        if not rels_name.lower().endswith(".rels") or rels_name in plan.replace:
            continue
        raw = read_part(zin, rels_name, budget)
        if b"people" not in raw.lower():
            continue
        doc = parse(raw)
        base = posixpath.dirname(posixpath.dirname(rels_name))
        changed = False
        for rel in doc.getElementsByTagNameNS("*", "Relationship"):
            if rel.getAttribute("Type").rsplit("/", 1)[-1].lower() != "people":
                continue
            target = rel.getAttribute("Target")
            path = target.lstrip("/") if target.startswith("/") else posixpath.join(base, target)
            part = by_lower.get(posixpath.normpath(path).lower())
            if part is not None:
                people.add(part)
            if rel.parentNode is not None:
                rel.parentNode.removeChild(rel)
            changed = True
        if changed:
            plan.replace[rels_name] = serialise(doc)
    if people:
        plan.drop |= people
        plan.removed["people"] = None
