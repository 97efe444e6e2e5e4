"""`sanitise_filename`: a reporter's file name made safe to store and show.

Imports only the standard library.
"""

from __future__ import annotations

import re
import unicodedata

__all__ = ["MAX_FILENAME", "sanitise_filename"]

MAX_FILENAME = 200
_FALLBACK = "file"
_MAX_EXTENSION = 16
# Control (C0, C1, DEL), format (bidi overrides and isolates, LRM/RLM, ALM, zero-width, BOM) and
# lone surrogates: invisible characters that can disguise a name ("\u202egnp.exe").
_DROP_CATEGORIES = frozenset({"Cc", "Cf", "Cs"})
_SEPARATORS = re.compile(r"[/\\]")


def sanitise_filename(name: str) -> str:
    """Base name only, NFC, no invisible characters, single spaces, no leading dots, at most
    200 characters with the extension kept; "file" when nothing is left. Never raises."""
    try:
        return _sanitise(name)
    except Exception:  # a name must never stop an upload
        return _FALLBACK


def _sanitise(name: str) -> str:
    # Tabs and line breaks are whitespace, to collapse; other invisible characters just go.
    text = "".join(" " if ch.isspace() else ch for ch in str(name))
    text = "".join(ch for ch in text if unicodedata.category(ch) not in _DROP_CATEGORIES)
    text = _SEPARATORS.split(text)[-1]
    text = unicodedata.normalize("NFC", text)
    text = " ".join(text.split()).lstrip(". ")
    if len(text) > MAX_FILENAME:
        text = _truncate(text)
    return text or _FALLBACK


def _truncate(text: str) -> str:
    stem, dot, extension = text.rpartition(".")
    if dot and stem and len(extension) <= _MAX_EXTENSION and " " not in extension:
        return stem[: MAX_FILENAME - len(extension) - 1].rstrip() + "." + extension
    return text[:MAX_FILENAME].rstrip()
