"""OOXML (docx, xlsx, pptx) and ODF (odt, ods, odp) cleaning: the zip is rebuilt in memory.

What changes inside is planned by `ooxml` (document properties, thumbnail, and the review traces
of `review`: comment and tracked-change authors, the people part) and `odf` (meta.xml, thumbnails,
printer settings, annotation and change authors). Here, for both: JPEG and PNG images under
media/ or Pictures/ go through the image filters (a photo pasted into a report keeps its GPS
otherwise) and must clean completely, or the whole file is stored as it came; zip timestamps,
comments and extra fields (Unix uid/gid) go; other parts are copied unchanged, `mimetype` stays
first and stored. Not touched: embedded objects (OLE, other image formats).

Inflating more than 12 times the file (at least 64 MiB, at most 512 MiB) is a zip bomb, or too
close to one: the file is stored exactly as it came and reported `inflates_too_much`, never
refused (evidence is not lost). Any other failure raises, and the caller stores the original and
reports it unreadable.

Imports this package's office modules and image filters, and the standard library.
"""

from __future__ import annotations

import io
import zipfile
from collections.abc import Callable, Iterable
from typing import IO

from service.evidence.jpeg import JpegFilter
from service.evidence.odf import plan_odf
from service.evidence.office_xml import Budget, Plan
from service.evidence.ooxml import CONTENT_TYPES, plan_ooxml
from service.evidence.png import SIGNATURE as PNG_SIGNATURE
from service.evidence.png import PngFilter
from service.evidence.streaming import StreamingFilter

__all__ = ["NotOffice", "clean_office", "zip_kind"]

_MAX_INFLATED = 512 << 20
_MIN_INFLATED = 64 << 20
_MAX_RATIO = 12
_COPY = 64 * 1024
_ZIP_EPOCH = (1980, 1, 1, 0, 0, 0)
_EOCD = 22  # size of the end-of-central-directory record without its comment
_LOCAL = 30  # size of a local file header without its name and extra field
_DATA_DESCRIPTOR = 0x08  # flag: CRC and sizes follow the data
_ZIP64 = 0xFFFFFFFF
_ODF_MIME = b"application/vnd.oasis.opendocument."


class NotOffice(Exception):
    """A zip that is neither an OOXML nor an ODF package."""


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
    budget = Budget(_inflation_budget(len(data)))
    _check_ends_with_directory(data)
    with zipfile.ZipFile(io.BytesIO(data)) as zin:
        infos = zin.infolist()
        names = [info.filename for info in infos]
        if len(set(names)) != len(names):
            raise ValueError("duplicate zip entries")  # readers disagree on which copy counts
        _check_entries_adjoin(data, infos, zin.start_dir)
        # Declared sizes refuse an honest bomb at once; the running budget catches lying ones.
        budget.check(sum(info.file_size for info in infos))
        if names and names[0] == "mimetype" and _starts_odf(zin):
            kind, plan = "odf", plan_odf(zin, names, budget)
        elif CONTENT_TYPES in names:
            kind, plan = "ooxml", plan_ooxml(zin, names, budget)
        else:
            raise NotOffice("not an office document")
        cleaned = _rebuild(zin, infos, plan, budget)
        return kind, cleaned, tuple(plan.removed)


def _check_ends_with_directory(data: bytes) -> None:
    """The file must end with the zip's end-of-directory record: bytes after it (an appended
    file, say) would be silently dropped by the rebuild."""
    end = data.rfind(b"PK\x05\x06")
    if end < 0 or end + _EOCD + int.from_bytes(data[end + 20 : end + 22], "little") != len(data):
        raise ValueError("data after the end of the zip")


def _check_entries_adjoin(data: bytes, infos: list[zipfile.ZipInfo], directory: int) -> None:
    """Each entry must start where the previous one ended, and the last end where the central
    directory starts: bytes in between belong to no part, and the rebuild would drop them."""
    pos = 0
    for info in sorted(infos, key=lambda info: info.header_offset):
        if info.header_offset != pos or data[pos : pos + 4] != b"PK\x03\x04":
            raise ValueError("bytes between zip entries")
        name_len = int.from_bytes(data[pos + 26 : pos + 28], "little")
        extra_len = int.from_bytes(data[pos + 28 : pos + 30], "little")
        pos += _LOCAL + name_len + extra_len + info.compress_size
        if info.flag_bits & _DATA_DESCRIPTOR:
            signed = data[pos : pos + 4] == b"PK\x07\x08"
            wide = info.compress_size >= _ZIP64 or info.file_size >= _ZIP64
            pos += (4 if signed else 0) + (20 if wide else 12)
    if pos != directory:
        raise ValueError("bytes between the entries and the central directory")


def _starts_odf(zin: zipfile.ZipFile) -> bool:
    with zin.open("mimetype") as part:
        return part.read(len(_ODF_MIME)) == _ODF_MIME


def _inflation_budget(size: int) -> int:
    """Real documents inflate a few times over (images barely at all); a bomb inflates a
    thousand times. Scale the allowance with the input, so 20 small bombs cost little CPU."""
    return min(_MAX_INFLATED, max(_MIN_INFLATED, _MAX_RATIO * size))


def _rebuild(
    zin: zipfile.ZipFile, infos: Iterable[zipfile.ZipInfo], plan: Plan, budget: Budget
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
            image = _image_filter(zin, info) if _is_media(info.filename) else None
            if image is not None:
                _judge_image(zin, info, image, budget)  # a first pass, so nothing partial is kept
            with zin.open(info) as src, zout.open(new, "w") as dst:
                _copy(src, dst, budget, plan, image() if image is not None else None)
    return out.getvalue()


def _fresh_info(info: zipfile.ZipInfo, zin: zipfile.ZipFile, plan: Plan) -> zipfile.ZipInfo:
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


def _image_filter(
    zin: zipfile.ZipFile, info: zipfile.ZipInfo
) -> Callable[[], StreamingFilter] | None:
    with zin.open(info) as src:
        head = src.read(len(PNG_SIGNATURE))
    if head.startswith(b"\xff\xd8\xff"):
        return JpegFilter
    return PngFilter if head.startswith(PNG_SIGNATURE) else None


def _judge_image(
    zin: zipfile.ZipFile,
    info: zipfile.ZipInfo,
    make: Callable[[], StreamingFilter],
    budget: Budget,
) -> None:
    """Raise if the embedded image cannot be cleaned completely (its output is discarded)."""
    image = make()
    with zin.open(info) as src:
        while piece := src.read(_COPY):
            budget.spend(len(piece))
            image.feed(piece)
    image.finish()
    if not image.report.cleaned:
        raise ValueError("an embedded image is damaged")


def _copy(
    src: IO[bytes], dst: IO[bytes], budget: Budget, plan: Plan, image: StreamingFilter | None
) -> None:
    """Copy one entry, through `image` if it is an embedded JPEG or PNG."""
    while piece := src.read(_COPY):
        budget.spend(len(piece))
        dst.write(piece if image is None else image.feed(piece))
    if image is not None:
        dst.write(image.finish())
        plan.removed.update(dict.fromkeys(image.report.removed))
