"""Reading the reporter's forms without Starlette's form parser.

`request.form()` spools uploads to disk in plaintext, so it is never used: small forms are read
here with a size cap (url-encoded through `read_body_limited`, multipart through
`stream_multipart` with tiny limits and no files), and forms with files go through
`routes.intake_flow` / `routes.api.reporter`.

Imports Starlette, `routes.deps`, `routes.multipart` and `service.errors`.
"""

from __future__ import annotations

from urllib.parse import parse_qs

from fastapi import Request
from starlette.requests import ClientDisconnect

from routes.bodies import body_chunks
from routes.deps import read_body_limited
from routes.multipart import FileSink, Limits, stream_multipart
from service.errors import (
    CsrfRejected,
    InvalidInput,
    Malformed,
    RequestTimeout,
    UnsupportedMediaType,
)
from service.inputs import CONTROL_CHARACTERS, control_characters_in

__all__ = [
    "MULTILINE_FIELDS",
    "SMALL_FORM",
    "Fields",
    "drain",
    "media_type",
    "read_small_form",
    "refuse_control_characters",
    "refuse_cross_site",
    "refuse_unless_multipart",
]

Fields = dict[str, list[str]]
SMALL_FORM = 8 << 10  # a receipt, a token and a few words
# The page fields that are free text (textareas) and so may hold tabs and line breaks; every
# other field is one line, and no field takes any other control character.
MULTILINE_FIELDS = frozenset({"narrative", "contact", "body", "message", "reason"})
_SMALL_LIMITS = Limits(
    max_body=SMALL_FORM, max_file=0, max_files=0, max_field=2 << 10, max_fields=10
)


def media_type(request: Request) -> str:
    return request.headers.get("content-type", "").split(";")[0].strip().lower()


def refuse_cross_site(request: Request) -> None:
    """Browsers say where a form post came from; another site's page is refused outright.

    This only adds to the CSRF token: old browsers send no `Sec-Fetch-Site` at all.
    """
    if request.headers.get("sec-fetch-site", "").lower() in ("cross-site", "same-site"):
        raise CsrfRejected("forms may only be sent from this site's own pages")


def refuse_unless_multipart(request: Request, form: str) -> None:
    """A page's form with files: from this site, and multipart (`form` names it if refused)."""
    refuse_cross_site(request)
    if media_type(request) != "multipart/form-data":
        raise UnsupportedMediaType(f"{form} is sent as multipart/form-data")


async def read_small_form(
    request: Request, limit: int = SMALL_FORM, *, max_fields: int = 10
) -> Fields:
    """A small url-encoded or multipart form (no files), refused past `limit` bytes or
    `max_fields` fields."""
    kind = media_type(request)
    if kind == "application/x-www-form-urlencoded":
        body = await read_body_limited(request, limit)
        try:
            text = body.decode("utf-8")
            parsed = parse_qs(
                text, keep_blank_values=True, strict_parsing=False, max_num_fields=max_fields
            )
        except (UnicodeDecodeError, ValueError):
            raise Malformed("the form could not be read") from None
        return refuse_control_characters(parsed)
    if kind == "multipart/form-data":
        fields: Fields = {}

        async def on_field(name: str, value: str) -> None:
            fields.setdefault(name, []).append(value)

        async def on_file(name: str, _filename: str, _type: str | None) -> FileSink:
            raise InvalidInput(f"{name}: this form takes no files")

        limits = _SMALL_LIMITS
        if (limit, max_fields) != (SMALL_FORM, 10):  # a larger staff form (routes.staff_auth)
            limits = Limits(
                max_body=limit, max_file=0, max_files=0, max_field=limit, max_fields=max_fields
            )
        await stream_multipart(request, limits=limits, on_field=on_field, on_file=on_file)
        return refuse_control_characters(fields)
    raise UnsupportedMediaType("send the form as url-encoded or multipart")


def refuse_control_characters(fields: Fields) -> Fields:
    """422 naming the first field that holds a control character (none at all in a one-line
    field; tab and line breaks allowed in `MULTILINE_FIELDS`)."""
    for name, values in fields.items():
        multiline = name in MULTILINE_FIELDS
        if control_characters_in(name) or any(
            control_characters_in(v, multiline=multiline) for v in values
        ):
            shown = "form" if control_characters_in(name) else name
            raise InvalidInput(f"invalid fields: {shown}", fields={shown: CONTROL_CHARACTERS})
    return fields


async def drain(request: Request, limit: int) -> None:
    """Read and drop what is left of a refused upload (up to `limit` bytes), so the browser,
    still sending, gets to read our answer instead of a reset connection."""
    seen = 0
    try:
        async for chunk in body_chunks(request, idle=5.0):
            seen += len(chunk)
            if seen > limit:
                return
    except (ClientDisconnect, RuntimeError, RequestTimeout):
        # RuntimeError: the body had already been read to the end.
        return
