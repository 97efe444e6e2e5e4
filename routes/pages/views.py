"""Turning service results into what the reporter templates show: attachment rows, sizes, dates.

Codes stay codes here (the templates translate them); only numbers and dates are formatted, with
Babel, in the page's language.

Imports Babel and `service.tips` only.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from datetime import date
from typing import Protocol

from babel.dates import format_date

__all__ = ["AttachmentRow", "attachment_rows", "long_date", "removed_kinds", "size_text"]

# What the sanitisers report (service.evidence), grouped into what a reporter understands.
_KINDS = {
    "gps": "gps",
    "exif": "exif",
    "xmp": "xmp",
    "xmp_metadata": "xmp",
    "object_metadata": "xmp",
    "iptc": "iptc",
    "comment": "comments",
    "zip_comments": "comments",
    "thumbnail": "thumbnail",
    "text_chunks": "text_notes",
    "timestamp": "dates",
    "zip_timestamps": "dates",
    "vendor_metadata": "maker_data",
    "private_chunks": "maker_data",
    "mpf": "maker_data",
    "trailing_data": "trailing_data",
    "document_info": "document_info",
    "core_properties": "document_info",
    "odf_meta": "document_info",
    "app_properties": "program",
    "custom_properties": "custom",
    "piece_info": "program_data",
    "printer_settings": "printer",
    "review_authors": "review_authors",
    "people": "people",
    "annotation_authors": "annotation_authors",
}


class _Attachment(Protocol):
    @property
    def name(self) -> str: ...
    @property
    def size(self) -> int: ...
    @property
    def cleaned(self) -> bool: ...
    @property
    def removed(self) -> tuple[str, ...]: ...


@dataclass(frozen=True)
class AttachmentRow:
    name: str
    size: str
    cleaned: bool
    removed: list[str]  # kinds, see `removed_kinds`
    # too_large_to_clean, inflates_too_much, unsupported_type, unreadable, disabled, or None
    reason: str | None


def removed_kinds(codes: Iterable[str]) -> list[str]:
    """Sanitiser codes as plain kinds, each once, in order; unknown codes become `other`."""
    kinds = dict.fromkeys(_KINDS.get(code, "other") for code in codes)
    return list(kinds)


def size_text(size: int) -> str:
    """`512 B`, `3.4 MB`, `12 MB` (Mexico, like the US, writes decimals with a point)."""
    units = ((1 << 30, "GB"), (1 << 20, "MB"), (1 << 10, "KB"))
    for scale, unit in units:
        if size >= scale:
            value = size / scale
            shown = f"{value:.1f}" if value < 10 else f"{value:.0f}"
            return f"{shown} {unit}"
    return f"{size} B"


def long_date(day: date, lang: str) -> str:
    """`November 29, 2026` / `29 de noviembre de 2026`."""
    return format_date(day, format="long", locale="es_MX" if lang == "es" else "en_US")


def attachment_rows(items: Iterable[_Attachment]) -> list[AttachmentRow]:
    return [
        AttachmentRow(
            name=item.name,
            size=size_text(item.size),
            cleaned=item.cleaned,
            removed=removed_kinds(item.removed),
            reason=getattr(item, "reason", None),
        )
        for item in items
    ]
