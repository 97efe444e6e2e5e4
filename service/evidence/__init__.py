"""Metadata removal for evidence files, on by default, without plaintext ever touching disk.

`make_sanitiser` returns a streaming cleaner chosen by the file's magic number: JPEG (`jpeg`) and
PNG (`png`) are filtered as they stream (`streaming`); WebP (`webp`), PDF (`pdf`) and OOXML/ODF
(`office`, with `ooxml`, `odf`, `review` and `office_xml`) are cleaned whole in memory up to a
limit. What is stored is a complete clean or the original, byte for byte, never a partial output.
`CleanReport` says what was removed, or why nothing was.
`sanitise_filename` (`filenames`) makes a reporter's file name safe to store and show.

No tables, so no models or repository:
- report.py (schemas): `CleanReport` and the `Sanitiser` protocol.
- sanitise.py, streaming.py, jpeg.py, png.py, webp.py, pdf.py, office.py, ooxml.py, odf.py,
  review.py, office_xml.py, filenames.py (service): the cleaners and the file-name rule.

May import the standard library, pikepdf and defusedxml (Pillow is not needed); never the web layer.
"""

from service.evidence.filenames import sanitise_filename
from service.evidence.report import CleanReport, Sanitiser
from service.evidence.sanitise import detect_kind, make_sanitiser

__all__ = ["CleanReport", "Sanitiser", "detect_kind", "make_sanitiser", "sanitise_filename"]
