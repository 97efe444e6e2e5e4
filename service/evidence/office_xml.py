"""What the office cleaners share: the plan of changes to a package, and safe reading, parsing
and writing of its XML parts.

XML is parsed by defusedxml with DTDs, entities and external references forbidden (no XML
bombs), and only parts up to 4 MiB; a larger part that must be cleaned makes the file
too_large_to_clean.

Imports defusedxml, this package's report module and the standard library.
"""

from __future__ import annotations

import re
import zipfile
from collections.abc import Callable
from dataclasses import dataclass, field
from xml.dom.minidom import Document, Element

import defusedxml.minidom

from service.evidence.report import InflatesTooMuch, TooLargeToClean

__all__ = [
    "MAX_PART",
    "Budget",
    "Plan",
    "mentions",
    "parse",
    "read_part",
    "remove",
    "remove_children",
    "serialise",
]

MAX_PART = 4 << 20
_SCAN = 1 << 16


@dataclass
class Plan:
    """Parts to leave out, parts to replace, and codes of what was removed."""

    drop: set[str] = field(default_factory=set)
    replace: dict[str, bytes] = field(default_factory=dict)
    removed: dict[str, None] = field(default_factory=dict)


def read_part(zin: zipfile.ZipFile, name: str, budget: Budget | None = None) -> bytes:
    with zin.open(name) as part:
        data = part.read(MAX_PART + 1)
    if budget is not None:
        budget.spend(len(data))
    if len(data) > MAX_PART:
        raise TooLargeToClean("XML part too large")
    return data


def parse(data: bytes) -> Document:
    # DTDs are never legitimate in these packages; refusing them also refuses entity bombs.
    doc: Document = defusedxml.minidom.parseString(
        data, forbid_dtd=True, forbid_entities=True, forbid_external=True
    )
    return doc


def serialise(doc: Document) -> bytes:
    return doc.toxml(encoding="UTF-8")


def remove(node: Element) -> None:
    if node.parentNode is not None:
        node.parentNode.removeChild(node)


def remove_children(parent: Element, keep: Callable[[Element], bool]) -> bool:
    """Remove child elements that `keep` rejects; True if any of them had text or attributes."""
    found = False
    for child in list(parent.childNodes):
        if isinstance(child, Element) and not keep(child):
            found |= child.hasAttributes() or child.hasChildNodes()
            parent.removeChild(child)
    return found


class Budget:
    """Bytes we are still willing to inflate from one package; a bomb runs it out."""

    def __init__(self, limit: int) -> None:
        self.left = limit

    def check(self, size: int) -> None:
        if size > self.left:
            raise InflatesTooMuch("declared to inflate to too much data")

    def spend(self, size: int) -> None:
        self.left -= size
        if self.left < 0:
            raise InflatesTooMuch("inflates to too much data")


def mentions(zin: zipfile.ZipFile, name: str, pattern: re.Pattern[bytes], budget: Budget) -> bool:
    """Whether the part contains `pattern` (short), read in pieces: parts can be large, and only
    those that need cleaning are parsed."""
    tail = b""
    with zin.open(name) as part:
        while piece := part.read(_SCAN):
            budget.spend(len(piece))
            if pattern.search(tail + piece):
                return True
            tail = piece[-64:]
    return False
