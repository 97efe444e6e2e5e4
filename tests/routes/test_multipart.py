"""Streaming multipart parsing through a real FastAPI app: fields, files, limits, broken bodies."""

from __future__ import annotations

import hashlib
import os
import socket
import threading
import time
import tracemalloc
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import Any

import anyio.to_thread
import httpx2
import pytest
import uvicorn
from fastapi import FastAPI, Request
from fastapi.testclient import TestClient
from sqlalchemy import Engine
from sqlalchemy.orm import Session
from starlette.types import Message

from crypto.age import generate_identity
from routes.errors import install_error_handlers
from routes.multipart import FileSink, Limits, stream_multipart
from service.blobs.models import Blob
from service.blobs.store import BlobWriter, iter_blob
from service.config import Settings
from service.db import make_session_factory
from service.evidence import make_sanitiser
from tests.factories import init_instance
from tests.service.test_blobs import make_tip

IDENTITY, RECIPIENT = generate_identity()

BOUNDARY = "----probity-test-boundary"
CONTENT_TYPE = f"multipart/form-data; boundary={BOUNDARY}"
LIMITS = Limits(max_body=64_000, max_file=20_000, max_files=3, max_field=100, max_fields=4)


@dataclass
class Sink:
    field_name: str
    filename: str
    content_type: str | None
    digest: Any = field(default_factory=hashlib.sha256)
    size: int = 0
    writes: int = 0
    largest_write: int = 0
    closed: bool = False

    def write(self, data: bytes) -> None:
        self.digest.update(data)
        self.size += len(data)
        self.writes += 1
        self.largest_write = max(self.largest_write, len(data))

    def close(self) -> None:
        self.closed = True


@dataclass
class Seen:
    fields: list[tuple[str, str]] = field(default_factory=list)
    sinks: list[Sink] = field(default_factory=list)
    receives: int = 0
    content_length: str | None = None
    peak: int | None = None


def make_app(limits: Limits, seen: Seen) -> FastAPI:
    app = FastAPI()
    install_error_handlers(app)

    @app.post("/api/upload")
    async def upload(request: Request) -> dict[str, Any]:
        seen.content_length = request.headers.get("content-length")
        if tracemalloc.is_tracing():
            tracemalloc.reset_peak()

        async def counting_receive() -> Message:
            seen.receives += 1
            return await request.receive()

        async def on_field(name: str, value: str) -> None:
            seen.fields.append((name, value))

        async def on_file(name: str, filename: str, content_type: str | None) -> FileSink:
            seen.sinks.append(Sink(name, filename, content_type))
            return seen.sinks[-1]

        counted = Request(request.scope, receive=counting_receive)
        await stream_multipart(counted, limits=limits, on_field=on_field, on_file=on_file)
        if tracemalloc.is_tracing():
            seen.peak = tracemalloc.get_traced_memory()[1]
        return {"fields": len(seen.fields), "files": len(seen.sinks)}

    return app


@pytest.fixture
def seen() -> Seen:
    return Seen()


@pytest.fixture
def client(seen: Seen) -> Iterator[TestClient]:
    with TestClient(make_app(LIMITS, seen)) as test_client:
        yield test_client


def field_part(name: str, value: bytes | str) -> bytes:
    data = value.encode() if isinstance(value, str) else value
    return f'Content-Disposition: form-data; name="{name}"\r\n\r\n'.encode() + data


def file_part(name: str, filename: str, data: bytes, content_type: str = "image/jpeg") -> bytes:
    head = f'Content-Disposition: form-data; name="{name}"; filename="{filename}"\r\n'
    return f"{head}Content-Type: {content_type}\r\n\r\n".encode() + data


def body(*parts: bytes) -> bytes:
    sep = f"--{BOUNDARY}\r\n".encode()
    return b"".join(sep + part + b"\r\n" for part in parts) + f"--{BOUNDARY}--\r\n".encode()


def post(client: TestClient, content: Any, content_type: str = CONTENT_TYPE) -> httpx2.Response:
    return client.post("/api/upload", content=content, headers={"content-type": content_type})


def test_fields_and_files_arrive_in_order(client: TestClient, seen: Seen) -> None:
    photo, note = os.urandom(15_000), "Él pagó 500 € al sargento".encode()
    response = post(
        client,
        body(
            field_part("agency", "metro"),
            field_part("narrative", note),
            file_part("files", "photo.jpg", photo),
            file_part("files", "../notes.txt", b"", "text/plain"),
        ),
    )
    assert response.status_code == 200, response.text
    assert seen.fields == [("agency", "metro"), ("narrative", note.decode())]
    (first, second) = seen.sinks
    assert (first.field_name, first.filename, first.content_type) == (
        "files",
        "photo.jpg",
        "image/jpeg",
    )
    assert first.digest.digest() == hashlib.sha256(photo).digest()
    assert first.closed
    assert (second.filename, second.size, second.closed) == ("../notes.txt", 0, True)


def test_an_empty_file_input_is_skipped(client: TestClient, seen: Seen) -> None:
    response = post(client, body(field_part("agency", "metro"), file_part("files", "", b"")))
    assert response.status_code == 200
    assert seen.sinks == []
    assert seen.fields == [("agency", "metro")]


def test_body_over_the_limit_without_content_length_is_413(client: TestClient, seen: Seen) -> None:
    chunk = b"x" * 8192

    def chunked() -> Iterator[bytes]:
        yield f"--{BOUNDARY}\r\n".encode() + field_part("a", "b") + b"\r\n"
        for _ in range(20):
            yield chunk

    response = post(client, chunked())
    assert response.status_code == 413
    assert response.json()["error"] == "payload_too_large"
    assert seen.content_length is None  # sent chunked


def test_declared_content_length_over_the_limit_is_413_before_reading(
    client: TestClient, seen: Seen
) -> None:
    response = client.post(
        "/api/upload",
        content=body(field_part("a", "b")),
        headers={"content-type": CONTENT_TYPE, "content-length": str(LIMITS.max_body + 1)},
    )
    assert response.status_code == 413
    assert seen.receives == 0
    assert seen.fields == []


def test_a_nonsense_content_length_is_400(client: TestClient, seen: Seen) -> None:
    response = client.post(
        "/api/upload",
        content=body(field_part("a", "b")),
        headers={"content-type": CONTENT_TYPE, "content-length": "12abc"},
    )
    assert response.status_code == 400
    assert seen.receives == 0


@pytest.mark.parametrize(
    "content",
    [
        pytest.param(body(file_part("files", "big.bin", bytes(LIMITS.max_file + 1))), id="file"),
        pytest.param(body(*[file_part("files", f"{i}.jpg", b"x") for i in range(4)]), id="files"),
        pytest.param(body(field_part("narrative", "x" * (LIMITS.max_field + 1))), id="field"),
        pytest.param(body(*[field_part(f"f{i}", "x") for i in range(5)]), id="fields"),
    ],
)
def test_limits_give_413_and_never_close_the_open_sink(
    client: TestClient, seen: Seen, content: bytes
) -> None:
    response = post(client, content)
    assert response.status_code == 413
    assert not [sink for sink in seen.sinks if sink.filename == "big.bin" and sink.closed]


def test_no_more_than_the_file_limit_reaches_a_sink(seen: Seen) -> None:
    limits = Limits(max_body=4 << 20, max_file=400_000, max_files=1, max_field=10, max_fields=1)
    with TestClient(make_app(limits, seen)) as client:
        response = post(client, body(file_part("files", "big.bin", os.urandom(3 << 20))))
    assert response.status_code == 413
    (sink,) = seen.sinks
    assert 0 < sink.size <= limits.max_file
    assert not sink.closed


@pytest.mark.parametrize(
    ("content", "content_type"),
    [
        pytest.param(body(field_part("a", "b")), "multipart/form-data", id="no-boundary"),
        pytest.param(body(field_part("a", "b")), "application/json", id="not-multipart"),
        pytest.param(body(field_part("a", "b"))[:-12], CONTENT_TYPE, id="truncated"),
        pytest.param(b"garbage" * 10, CONTENT_TYPE, id="garbage"),
        pytest.param(b"", CONTENT_TYPE, id="empty"),
        pytest.param(
            body(b"X-Padding: " + b"p" * 5000 + b"\r\n" + field_part("a", "b")),
            CONTENT_TYPE,
            id="huge-part-header",
        ),
        pytest.param(body(b"Content-Type: text/plain\r\n\r\nb"), CONTENT_TYPE, id="no-name"),
        pytest.param(body(field_part("a", b"caf\xe9")), CONTENT_TYPE, id="field-not-utf8"),
        pytest.param(
            body(field_part("a", "b")), f"multipart/form-data; boundary={'b' * 300}", id="boundary"
        ),
    ],
)
def test_malformed_bodies_are_400(
    client: TestClient, seen: Seen, content: bytes, content_type: str
) -> None:
    response = post(client, content, content_type)
    assert response.status_code == 400, response.text
    assert response.json()["error"] == "malformed_request"
    assert not any(sink.closed for sink in seen.sinks)


def test_a_file_cut_off_mid_part_is_400_and_not_closed(client: TestClient, seen: Seen) -> None:
    content = f"--{BOUNDARY}\r\n".encode() + file_part("files", "a.jpg", b"y" * 5000)
    response = post(client, content)
    assert response.status_code == 400
    (sink,) = seen.sinks
    assert not sink.closed


@contextmanager
def live_server(app: FastAPI) -> Iterator[str]:
    """The app on a real socket, so the body streams as uvicorn reads it."""
    sock = socket.socket()
    sock.bind(("127.0.0.1", 0))
    config = uvicorn.Config(app, lifespan="off", log_config=None, ws="none", http="h11")
    server = uvicorn.Server(config)
    thread = threading.Thread(target=server.run, kwargs={"sockets": [sock]}, daemon=True)
    thread.start()
    try:
        for _ in range(500):
            if server.started:
                break
            time.sleep(0.01)
        yield f"http://127.0.0.1:{sock.getsockname()[1]}"
    finally:
        server.should_exit = True
        thread.join(10)
        sock.close()


def test_a_50_mib_upload_streams_in_bounded_memory() -> None:
    size, block = 50 << 20, os.urandom(64 * 1024)
    limits = Limits(max_body=60 << 20, max_file=55 << 20, max_files=1, max_field=100, max_fields=1)
    seen = Seen()
    expected = hashlib.sha256()

    def upload() -> Iterator[bytes]:
        yield f"--{BOUNDARY}\r\n".encode() + file_part("files", "video.mp4", b"", "video/mp4")
        for _ in range(size // len(block)):
            expected.update(block)
            yield block
        yield f"\r\n--{BOUNDARY}--\r\n".encode()

    with live_server(make_app(limits, seen)) as base:
        tracemalloc.start()
        try:
            with httpx2.Client(timeout=60) as http:
                response = http.post(
                    base + "/api/upload", content=upload(), headers={"content-type": CONTENT_TYPE}
                )
        finally:
            tracemalloc.stop()
    assert response.status_code == 200, response.text
    (sink,) = seen.sinks
    assert sink.size == size
    assert sink.closed
    assert sink.digest.digest() == expected.digest()
    assert sink.largest_write <= 512 * 1024  # batched, never the whole file
    assert seen.peak is not None
    assert seen.peak < 8 << 20, seen.peak


class EvidenceSink:
    """What intake does with a file: sanitise, then encrypt into chunk rows."""

    def __init__(self, session: Session, tip_id: uuid.UUID) -> None:
        self.sanitiser = make_sanitiser(enabled=True, max_in_memory=1 << 20)
        self.writer = BlobWriter(
            session, tip_id=tip_id, key_kind="conversation", recipients=[RECIPIENT]
        )
        self.blob_id: uuid.UUID | None = None

    def write(self, data: bytes) -> None:
        self.writer.write(self.sanitiser.feed(data))

    def close(self) -> None:
        self.writer.write(self.sanitiser.finish())
        self.blob_id = self.writer.close()


def test_a_50_mib_upload_is_encrypted_into_chunk_rows_in_bounded_memory(
    engine: Engine, settings: Settings
) -> None:
    init_instance(engine, settings)
    factory = make_session_factory(engine)
    with factory.begin() as session:
        tip_id = make_tip(session)
    size, block = 50 << 20, os.urandom(64 * 1024)
    limits = Limits(max_body=60 << 20, max_file=55 << 20, max_files=1, max_field=100, max_fields=1)
    sinks: list[EvidenceSink] = []
    peak: list[int] = []
    app = FastAPI()

    @app.post("/api/upload")
    async def upload(request: Request) -> dict[str, str]:
        tracemalloc.reset_peak()
        with factory() as session:

            async def on_field(name: str, value: str) -> None:
                raise AssertionError("no fields expected")

            async def on_file(name: str, filename: str, content_type: str | None) -> FileSink:
                sinks.append(await anyio.to_thread.run_sync(EvidenceSink, session, tip_id))
                return sinks[-1]

            await stream_multipart(request, limits=limits, on_field=on_field, on_file=on_file)
            await anyio.to_thread.run_sync(session.commit)
        peak.append(tracemalloc.get_traced_memory()[1])
        return {"blob": str(sinks[0].blob_id)}

    def upload_body() -> Iterator[bytes]:
        yield f"--{BOUNDARY}\r\n".encode() + file_part("files", "clip.bin", b"", "video/mp4")
        for _ in range(size // len(block)):
            yield block
        yield f"\r\n--{BOUNDARY}--\r\n".encode()

    with live_server(app) as base:
        tracemalloc.start()
        try:
            with httpx2.Client(timeout=120) as http:
                response = http.post(
                    base + "/api/upload",
                    content=upload_body(),
                    headers={"content-type": CONTENT_TYPE},
                )
        finally:
            tracemalloc.stop()
    assert response.status_code == 200, response.text
    # A few 1 MiB rows in flight (PostgreSQL stores one while the next is encrypted): far below 50.
    assert peak[0] < 12 << 20, peak
    (sink,) = sinks
    assert sink.sanitiser.report.reason == "unsupported_type"
    assert sink.blob_id is not None
    with factory() as session:
        digest = hashlib.sha256()
        for piece in iter_blob(session, sink.blob_id, [IDENTITY]):
            digest.update(piece)
        chunks = session.get_one(Blob, sink.blob_id).chunks
    assert digest.digest() == hashlib.sha256(block * (size // len(block))).digest()
    assert chunks >= 50
