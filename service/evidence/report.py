"""What a sanitiser did to one file (`CleanReport`) and the streaming interface every cleaner has.

Imports only the standard library.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Protocol

__all__ = [
    "DISABLED",
    "INFLATES_TOO_MUCH",
    "TOO_LARGE",
    "UNREADABLE",
    "UNSUPPORTED",
    "CleanReport",
    "InflatesTooMuch",
    "Sanitiser",
    "TooLargeToClean",
]

# Reason codes for `cleaned=False`; the reporter pages translate them.
DISABLED = "disabled"
UNSUPPORTED = "unsupported_type"
TOO_LARGE = "too_large_to_clean"
UNREADABLE = "unreadable"
INFLATES_TOO_MUCH = "inflates_too_much"  # a decompression bomb, or a file too close to one


@dataclass(frozen=True)
class CleanReport:
    """`kind`: jpeg, png, webp, pdf, ooxml, odf or other. `removed`: codes of what was taken out
    (exif, gps, xmp, iptc, comment, thumbnail, text_chunks, document_info, core_properties,
    review_authors, people, annotation_authors, ...).
    `reason` is a code, set when `cleaned` is False."""

    kind: str
    removed: tuple[str, ...]
    cleaned: bool
    reason: str | None = None


class Sanitiser(Protocol):
    """Push-style cleaning: `feed()` pieces, write what comes back, then `finish()`.

    The concatenated outputs are the file to store, unless `take_original()` (to be called after
    every `feed()` and after `finish()`) handed out bytes: then those are a copy of the original,
    kept because a streamed file may still turn out damaged, and they are the file to store when
    `report.cleaned` is False. Either way the stored file is a complete clean or the original,
    byte for byte. `report` is final only after `finish()`.
    """

    def feed(self, data: bytes) -> bytes: ...

    def finish(self) -> bytes: ...

    def take_original(self) -> bytes: ...

    @property
    def report(self) -> CleanReport: ...


class TooLargeToClean(Exception):
    """The file would need more memory to clean than we allow."""


class InflatesTooMuch(Exception):
    """Cleaning would inflate the file past our budget (a decompression bomb, or close to one);
    it is stored exactly as it came, never refused: evidence is not lost."""
