"""Drive the app's ASGI interface with a body that arrives in pieces, as from a network.

The test client reads a request's body whole before the app sees it; these helpers hand it
over piece by piece in the app's own event loop (`TestClient.portal`, lifespan running), can
run something between two pieces, and can hang up midway.
"""

from __future__ import annotations

import json
import uuid
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import anyio
from starlette.types import ASGIApp

from tests.factories import tip_json

__all__ = ["Streamed", "multipart", "post_streamed", "tip_with_files"]

PIECE = 64 * 1024


def multipart(parts: list[tuple[str, str | None, bytes]]) -> tuple[bytes, str]:
    """A multipart/form-data body of (field, filename or None, data); returns body, boundary."""
    boundary = uuid.uuid4().hex
    out = bytearray()
    for name, filename, data in parts:
        disposition = f'form-data; name="{name}"'
        if filename is not None:
            disposition += f'; filename="{filename}"'
        out += f"--{boundary}\r\nContent-Disposition: {disposition}\r\n\r\n".encode()
        out += data + b"\r\n"
    out += f"--{boundary}--\r\n".encode()
    return bytes(out), boundary


def tip_with_files(*files: tuple[str, bytes]) -> tuple[bytes, str]:
    tip = ("tip", None, json.dumps(tip_json()).encode())
    return multipart([tip, *(("files", name, data) for name, data in files)])


@dataclass
class Streamed:
    status: int = 0
    body: bytes = b""
    headers: dict[str, str] = field(default_factory=dict)

    def json(self) -> Any:
        return json.loads(self.body)


async def post_streamed(
    app: ASGIApp,
    path: str,
    body: bytes,
    *,
    headers: dict[str, str],
    between: Callable[[int], None] | None = None,
    hang_up_after: int | None = None,
) -> Streamed:
    """POST `body` in `PIECE`s; `between(sent)` runs before each further piece is handed over
    (everything sent so far has been processed by then). With `hang_up_after`, the client
    disconnects once that many bytes were sent."""
    all_headers = {**headers, "content-length": str(len(body)), "host": "testserver"}
    scope = {
        "type": "http",
        "asgi": {"version": "3.0"},
        "http_version": "1.1",
        "method": "POST",
        "scheme": "http",
        "path": path,
        "raw_path": path.encode(),
        "root_path": "",
        "query_string": b"",
        "headers": [(k.lower().encode(), v.encode()) for k, v in all_headers.items()],
        "client": ("127.0.0.1", 50000),
        "server": ("testserver", 80),
    }
    sent = 0
    answer = Streamed()
    answered = anyio.Event()

    async def receive() -> dict[str, Any]:
        nonlocal sent
        if sent and between is not None:
            between(sent)
        if sent >= len(body):
            await answered.wait()  # the whole body is in: nothing more until the answer is out
        if sent >= len(body) or (hang_up_after is not None and sent >= hang_up_after):
            return {"type": "http.disconnect"}
        piece = body[sent : sent + PIECE]
        sent += len(piece)
        return {"type": "http.request", "body": piece, "more_body": sent < len(body)}

    async def send(message: dict[str, Any]) -> None:
        if message["type"] == "http.response.start":
            answer.status = message["status"]
            answer.headers = {k.decode(): v.decode() for k, v in message["headers"]}
        elif message["type"] == "http.response.body":
            answer.body += message.get("body", b"")
            if not message.get("more_body", False):
                answered.set()

    await app(scope, receive, send)  # type: ignore[arg-type]
    return answer
