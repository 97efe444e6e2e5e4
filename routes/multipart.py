"""Streaming multipart/form-data: parts go to callbacks as the body arrives, never to disk.

`stream_multipart` reads `request.stream()` through python-multipart's push parser. Text fields are
collected up to `Limits.max_field` and handed over whole; file data goes to the `FileSink` that
`on_file` returns, in batches of about 256 KiB through a worker thread (sinks encrypt and write to
the database). Nothing is spooled and no file is held whole: memory stays around one batch.

Limits are checked as bytes arrive, so they hold without a Content-Length (chunked bodies):
PayloadTooLarge (413) for the body, a file, a field, or too many files or fields; Malformed (400)
for a wrong content type, broken framing, oversized part headers, a body that ends mid-part or a
field that is not UTF-8. After an error no sink is closed: the caller rolls its transaction back.

Imports Starlette, python-multipart, anyio and `service.errors`.
"""

from __future__ import annotations

import logging
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING, Protocol

import anyio
import anyio.to_thread
from python_multipart.exceptions import FormParserError
from python_multipart.multipart import MultipartParser, MultipartState, parse_options_header
from starlette.requests import Request

from routes.bodies import body_chunks
from service.errors import InvalidInput, Malformed, PayloadTooLarge
from service.inputs import CONTROL_CHARACTERS, control_characters_in

if TYPE_CHECKING:
    from python_multipart.multipart import MultipartCallbacks

__all__ = ["FileSink", "Limits", "OnField", "OnFile", "stream_multipart"]

_PIECE = 64 * 1024  # parser input size: bounds the events one write can produce
_BATCH = 256 * 1024  # file data per thread hop
# The parser logs warnings that quote bytes of the body; they go nowhere.
_SILENT = logging.Logger("python_multipart.silenced")
_SILENT.addHandler(logging.NullHandler())
_SILENT.propagate = False


@dataclass(frozen=True)
class Limits:
    max_body: int
    max_file: int
    max_files: int
    max_field: int
    max_fields: int


class FileSink(Protocol):
    """Receives one file's bytes, from a worker thread; `close` comes only after a complete part."""

    def write(self, data: bytes) -> None: ...

    def close(self) -> None: ...


OnField = Callable[[str, str], Awaitable[None]]
OnFile = Callable[[str, str, str | None], Awaitable[FileSink]]


@dataclass(frozen=True)
class _Start:
    name: str
    filename: str | None
    content_type: str | None


_Event = _Start | bytes | None  # part start, part data, part end


async def stream_multipart(
    request: Request,
    *,
    limits: Limits,
    on_field: OnField,
    on_file: OnFile,
    limiter: anyio.CapacityLimiter | None = None,
) -> None:
    """Parse the request body, calling `on_field(name, value)` after each text field and
    `on_file(name, filename, content_type)` at the start of each non-empty file input.
    Sinks run on worker threads from `limiter` (anyio's default one when None)."""
    boundary = _boundary(request.headers.get("content-type"))
    _check_declared_length(request.headers.get("content-length"), limits.max_body)
    framing = _Framing(boundary)
    parts = _Parts(limits, on_field, on_file, limiter)
    received = 0
    async for chunk in body_chunks(request):
        received += len(chunk)
        if received > limits.max_body:
            raise PayloadTooLarge("request body too large")
        for start in range(0, len(chunk), _PIECE):
            for event in framing.write(chunk[start : start + _PIECE]):
                await parts.handle(event)
    framing.check_complete()


def _boundary(content_type: str | None) -> bytes:
    media_type, options = parse_options_header(content_type)
    boundary = options.get(b"boundary")
    if media_type != b"multipart/form-data" or not boundary:
        raise Malformed("expected multipart/form-data with a boundary")
    return boundary


def _check_declared_length(value: str | None, max_body: int) -> None:
    if value is None:
        return
    if not (value.isascii() and value.isdigit()):  # isdigit alone accepts "²"
        raise Malformed("invalid Content-Length")
    if int(value) > max_body:
        raise PayloadTooLarge("request body too large")


class _Framing:
    """Synchronous side: feeds the parser and turns its callbacks into a list of events."""

    def __init__(self, boundary: bytes) -> None:
        callbacks: MultipartCallbacks = {
            "on_part_begin": self._part_begin,
            "on_header_field": self._header_field,
            "on_header_value": self._header_value,
            "on_header_end": self._header_end,
            "on_headers_finished": self._headers_finished,
            "on_part_data": self._part_data,
            "on_part_end": self._part_end,
        }
        try:
            self._parser = MultipartParser(boundary, callbacks)
        except FormParserError:
            raise Malformed("invalid multipart boundary") from None
        self._parser.logger = _SILENT
        self._events: list[_Event] = []
        self._headers: dict[bytes, bytes] = {}
        self._field = bytearray()
        self._value = bytearray()

    def write(self, data: bytes) -> list[_Event]:
        try:
            self._parser.write(data)
        except FormParserError:
            raise Malformed("malformed multipart body") from None
        events, self._events = self._events, []
        return events

    def check_complete(self) -> None:
        if self._parser.state != MultipartState.END:
            raise Malformed("multipart body ended before its closing boundary")

    def _part_begin(self) -> None:
        self._headers = {}

    def _header_field(self, data: bytes, start: int, end: int) -> None:
        self._field += data[start:end]

    def _header_value(self, data: bytes, start: int, end: int) -> None:
        self._value += data[start:end]

    def _header_end(self) -> None:
        self._headers[bytes(self._field).lower()] = bytes(self._value)
        self._field.clear()
        self._value.clear()

    def _headers_finished(self) -> None:
        self._events.append(_part_start(self._headers))

    def _part_data(self, data: bytes, start: int, end: int) -> None:
        self._events.append(data[start:end])

    def _part_end(self) -> None:
        self._events.append(None)


def _part_start(headers: dict[bytes, bytes]) -> _Start:
    disposition, options = parse_options_header(headers.get(b"content-disposition"))
    name = options.get(b"name")
    if disposition != b"form-data" or name is None:
        raise Malformed("multipart part without a form-data name")
    try:
        field_name = name.decode("utf-8")
    except UnicodeDecodeError:
        raise Malformed("field name is not UTF-8") from None
    raw_filename = options.get(b"filename")
    filename = None if raw_filename is None else raw_filename.decode("utf-8", errors="replace")
    # File names are not refused but sanitised (service.tips.attachments): evidence is kept.
    if control_characters_in(field_name):
        raise InvalidInput("invalid fields: form", fields={"form": CONTROL_CHARACTERS})
    content_type = headers.get(b"content-type")
    return _Start(
        name=field_name,
        filename=filename,
        content_type=None if content_type is None else content_type.decode("latin-1").strip(),
    )


def _refuse_control_characters(name: str, value: str) -> None:
    """No text part takes NUL or another control character but tab and line breaks (one-line
    fields refuse those too: request models and `routes.pages.forms`)."""
    if control_characters_in(value, multiline=True):
        raise InvalidInput(f"invalid fields: {name}", fields={name: CONTROL_CHARACTERS})


class _Parts:
    """Asynchronous side: applies the limits and drives the callbacks and sinks."""

    def __init__(
        self,
        limits: Limits,
        on_field: OnField,
        on_file: OnFile,
        limiter: anyio.CapacityLimiter | None,
    ) -> None:
        self._limits = limits
        self._limiter = limiter
        self._on_field = on_field
        self._on_file = on_file
        self._fields = 0
        self._files = 0
        self._part: _Start | None = None
        self._sink: FileSink | None = None
        self._size = 0
        self._buf = bytearray()

    async def handle(self, event: _Event) -> None:
        if isinstance(event, _Start):
            self._begin(event)
        elif isinstance(event, bytes):
            await self._data(event)
        else:
            await self._end()

    def _begin(self, part: _Start) -> None:
        self._part, self._sink, self._size = part, None, 0
        self._buf.clear()
        if part.filename is None:
            self._fields += 1
            if self._fields > self._limits.max_fields:
                raise PayloadTooLarge("too many form fields")

    async def _data(self, data: bytes) -> None:
        part = self._current()
        self._size += len(data)
        if part.filename is None:
            if self._size > self._limits.max_field:
                raise PayloadTooLarge("form field too large")
            self._buf += data
            return
        if self._size > self._limits.max_file:
            raise PayloadTooLarge("file too large")
        if self._sink is None:
            self._sink = await self._open(part)
        self._buf += data
        if len(self._buf) >= _BATCH:
            await self._flush()

    async def _end(self) -> None:
        part = self._current()
        if part.filename is None:
            try:
                value = self._buf.decode("utf-8")
            except UnicodeDecodeError:
                raise Malformed("form field is not UTF-8") from None
            self._buf.clear()
            _refuse_control_characters(part.name, value)
            await self._on_field(part.name, value)
        else:
            if self._sink is None and part.filename == "":
                self._part = None
                return  # an empty file input: the browser sends a nameless, empty part
            sink = self._sink if self._sink is not None else await self._open(part)
            self._sink = sink
            await self._flush()
            await anyio.to_thread.run_sync(sink.close, limiter=self._limiter)
        self._part, self._sink = None, None

    async def _open(self, part: _Start) -> FileSink:
        self._files += 1
        if self._files > self._limits.max_files:
            raise PayloadTooLarge("too many files")
        return await self._on_file(part.name, part.filename or "", part.content_type)

    async def _flush(self) -> None:
        if self._buf and self._sink is not None:
            data = bytes(self._buf)
            self._buf.clear()
            await anyio.to_thread.run_sync(self._sink.write, data, limiter=self._limiter)

    def _current(self) -> _Start:
        if self._part is None:
            raise Malformed("multipart data outside a part")
        return self._part
