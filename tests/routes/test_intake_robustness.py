"""Intake under pressure: saturation, concurrent retries, a full disk, a dead database."""

from __future__ import annotations

import http.client
import json
import os
import signal
import threading
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import anyio
import pytest
from fastapi.testclient import TestClient
from sqlalchemy import Engine, create_engine, event, func, select

from routes.app import create_app
from routes.deps import IntakeGate
from service.config import Settings
from service.db import make_session_factory
from service.tips.models import Tip
from tests.factories import seed_border, tip_json
from tests.live import Answer, Client, live_process, live_server, server_env


@pytest.fixture
def seeded(engine: Engine, settings: Settings) -> Settings:
    seed_border(engine, settings)
    return settings


def _tip_count(engine: Engine) -> int:
    with make_session_factory(engine)() as session:
        return session.scalar(select(func.count()).select_from(Tip)) or 0


def _connect(base: str) -> http.client.HTTPConnection:
    parts = urlsplit(base)
    return http.client.HTTPConnection(parts.hostname or "", parts.port, timeout=60)


def _begin_multipart(
    base: str, boundary: str, length: int, first: bytes
) -> http.client.HTTPConnection:
    """A multipart POST of `length` bytes, of which only `first` is sent yet."""
    conn = _connect(base)
    conn.putrequest("POST", "/api/v1/tips")
    conn.putheader("content-type", f"multipart/form-data; boundary={boundary}")
    conn.putheader("content-length", str(length))
    conn.endheaders()
    conn.send(first)
    return conn


def _post_tip(base: str) -> Answer:
    """POST a JSON tip over a fresh connection."""
    return Client(base, timeout=60).post("/api/v1/tips", tip_json())


def test_a_full_gate_answers_503_with_retry_after_and_never_hangs(
    seeded: Settings, engine: Engine, tmp_path: Path
) -> None:
    env = server_env(seeded, PROBITY_INTAKE_CONCURRENCY="1")
    with live_server(env, tmp_path / "server.log") as base:
        # A slow reporter holds the only slot: headers and half the body, then a pause.
        boundary = "slowboundary"
        head = (
            f'--{boundary}\r\nContent-Disposition: form-data; name="tip"\r\n\r\n'
            f"{json.dumps(tip_json())}\r\n"
        ).encode()
        tail = f"--{boundary}--\r\n".encode()
        slow = _begin_multipart(base, boundary, len(head) + len(tail), head)
        busy = Answer(0, {}, "")
        for _ in range(50):  # The slot is taken once the server has read the headers.
            busy = _post_tip(base)
            if busy.status_code == 503:
                break
        assert busy.status_code == 503, "the gate never filled"
        assert busy.headers.get("retry-after")
        slow.send(tail)
        finished = slow.getresponse()
        assert finished.status == 201, finished.read()
        slow.close()
    # Only the slow tip and the quick ones that got in before it were stored; each one whole.
    assert _tip_count(engine) >= 1


def test_the_gate_runs_blocking_work_on_at_most_its_threads() -> None:
    gate = IntakeGate(limit=8, threads=2)
    running, peak = 0, 0
    lock = threading.Lock()

    def work() -> None:
        nonlocal running, peak
        with lock:
            running += 1
            peak = max(peak, running)
        time.sleep(0.02)
        with lock:
            running -= 1

    async def main() -> None:
        async with anyio.create_task_group() as group:
            for _ in range(8):
                group.start_soon(gate.run_sync, work)

    anyio.run(main)
    assert peak == 2


# Both backends: an upload arriving slowly holds no write lock and no connection while it
# arrives (it is spooled as ciphertext, then stored in one short transaction).
def test_a_file_arriving_slowly_does_not_hold_an_intake_thread(
    seeded: Settings, engine: Engine, tmp_path: Path
) -> None:
    env = server_env(seeded, PROBITY_INTAKE_THREADS="1")
    with live_server(env, tmp_path / "server.log") as base:
        boundary = "slowfileboundary"
        head = (
            f'--{boundary}\r\nContent-Disposition: form-data; name="tip"\r\n\r\n'
            f"{json.dumps(tip_json())}\r\n--{boundary}\r\n"
            'Content-Disposition: form-data; name="files"; filename="a.bin"\r\n'
            "Content-Type: application/octet-stream\r\n\r\n"
        ).encode()
        data = os.urandom(600 << 10)  # more than one batch: the file is being written
        tail = f"\r\n--{boundary}--\r\n".encode()
        slow = _begin_multipart(base, boundary, len(head) + 2 * len(data) + len(tail), head + data)
        time.sleep(0.5)
        started = time.monotonic()
        quick = _post_tip(base)  # the slow upload is paused mid-file
        assert quick.status_code == 201, quick
        assert time.monotonic() - started < 5
        slow.send(data + tail)
        finished = slow.getresponse()
        assert finished.status == 201, finished.read()
        slow.close()
    assert _tip_count(engine) == 2


def test_concurrent_retries_with_one_key_store_one_tip(
    seeded: Settings, engine: Engine, tmp_path: Path
) -> None:
    answers: list[tuple[int, Any]] = []
    body = json.dumps(tip_json()).encode()
    with live_server(server_env(seeded), tmp_path / "server.log") as base:

        def post() -> None:
            conn = _connect(base)
            try:
                conn.request(
                    "POST",
                    "/api/v1/tips",
                    body=body,
                    headers={
                        "content-type": "application/json",
                        "idempotency-key": "double-click-7f3a9c1e22",
                    },
                )
                response = conn.getresponse()
                answers.append((response.status, json.loads(response.read())))
            finally:
                conn.close()

        threads = [threading.Thread(target=post) for _ in range(8)]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join()
    assert {status for status, _ in answers} == {201}
    assert len({payload["receipt"] for _, payload in answers}) == 1
    assert _tip_count(engine) == 1


@pytest.fixture
def client(seeded: Settings) -> Iterator[TestClient]:
    with TestClient(create_app(seeded)) as test_client:
        yield test_client


def _sqlite_only(settings: Settings) -> None:
    if not settings.effective_database_url.startswith("sqlite"):
        pytest.skip("simulated with SQLite pragmas; PostgreSQL is covered by the next test")


def test_a_full_disk_is_507_and_stores_nothing(
    client: TestClient, seeded: Settings, engine: Engine
) -> None:
    _sqlite_only(seeded)
    app_engine: Engine = client.app.state.engine  # type: ignore[attr-defined]
    client.get("/api/v1/intake/form")  # The instance context loads before the disk fills.
    app_engine.dispose()

    @event.listens_for(app_engine, "connect")
    def _tiny_disk(dbapi_connection: Any, _record: Any) -> None:
        cursor = dbapi_connection.cursor()
        pages = cursor.execute("PRAGMA page_count").fetchone()[0]
        cursor.execute(f"PRAGMA max_page_count = {pages + 2}")
        cursor.close()

    files: list[tuple[str, tuple[str | None, bytes, str]]] = [
        ("tip", (None, json.dumps(tip_json()).encode(), "application/json")),
        ("files", ("video.bin", b"\x00\x01" * (1 << 20), "application/octet-stream")),
    ]
    response = client.post("/api/v1/tips", files=files)
    assert response.status_code == 507, response.text
    assert response.json()["error"] == "insufficient_storage"
    assert response.headers["retry-after"]
    assert _tip_count(engine) == 0


def test_a_dead_database_is_503_and_a_clear_page(
    client: TestClient, seeded: Settings, engine: Engine
) -> None:
    client.get("/api/v1/intake/form")
    app_engine: Engine = client.app.state.engine  # type: ignore[attr-defined]
    app_engine.dispose()
    url = seeded.effective_database_url
    if url.startswith("sqlite"):
        # As root, file permissions don't stop writes; a read-only connection does.
        event.listen(app_engine, "connect", lambda c, _r: c.execute("PRAGMA query_only = ON"))
    else:
        _allow_connections(engine, allow=False)
    api = client.post("/api/v1/tips", json=tip_json())
    assert api.status_code == 503, api.text
    assert api.json()["error"] == "unavailable"
    assert api.headers["retry-after"]
    if not url.startswith("sqlite"):
        _allow_connections(engine, allow=True)
    assert _tip_count(engine) == 0


def _allow_connections(engine: Engine, *, allow: bool) -> None:
    """Open or close a PostgreSQL database to new connections, from the `postgres` database."""
    name = engine.url.database
    engine.dispose()
    admin = create_engine(engine.url.set(database="postgres"), isolation_level="AUTOCOMMIT")
    try:
        with admin.connect() as conn:
            conn.exec_driver_sql(f'ALTER DATABASE "{name}" ALLOW_CONNECTIONS {str(allow).lower()}')
            if not allow:
                conn.exec_driver_sql(
                    "SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE datname = %s",
                    (name,),
                )
    finally:
        admin.dispose()


def test_a_receipt_survives_kill_9_of_the_server(
    seeded: Settings, engine: Engine, tmp_path: Path
) -> None:
    """Guarantee 5: a receipt shown means the tip is on disk, even if the server dies at once."""
    env = server_env(seeded)
    with live_process(env, tmp_path / "first.log") as (base, server):
        answer = _post_tip(base)
        assert answer.status_code == 201
        server.send_signal(signal.SIGKILL)  # no shutdown, no flush: only what was committed
        server.wait(timeout=10)
    receipt = answer.json()["receipt"]
    assert _tip_count(engine) == 1
    with live_server(env, tmp_path / "second.log") as base:
        conn = _connect(base)
        try:
            conn.request(
                "POST",
                "/api/v1/reporter/session",
                body=json.dumps({"receipt": receipt}),
                headers={"content-type": "application/json"},
            )
            assert conn.getresponse().status == 200
        finally:
            conn.close()


def _start_slow_upload(base: str) -> http.client.HTTPConnection:
    """Headers and the start of a tip part, then silence."""
    boundary = "stalledboundary"
    head = (
        f'--{boundary}\r\nContent-Disposition: form-data; name="tip"\r\n\r\n{{"agency": '.encode()
    )
    return _begin_multipart(base, boundary, 100000, head)


def test_a_stalled_body_gets_408_and_frees_its_slot(
    seeded: Settings, engine: Engine, tmp_path: Path
) -> None:
    env = server_env(seeded, PROBITY_INTAKE_CONCURRENCY="1", PROBITY_BODY_IDLE_SECONDS="1")
    with live_server(env, tmp_path / "server.log") as base:
        slow = _start_slow_upload(base)
        try:
            response = slow.getresponse()
            assert response.status == 408
            assert json.loads(response.read())["error"] == "request_timeout"
        finally:
            slow.close()
        assert _post_tip(base).status_code == 201  # the only slot is free again
    assert _tip_count(engine) == 1


def test_a_slow_upload_does_not_hold_up_other_writers(
    seeded: Settings, engine: Engine, tmp_path: Path
) -> None:
    with live_server(server_env(seeded), tmp_path / "server.log") as base:
        slow = _start_slow_upload(base)
        try:
            started = time.perf_counter()
            answer = _post_tip(base)
            assert answer.status_code == 201, answer.text
            # Well under SQLite's 10 s busy timeout: the slow request holds no write lock.
            assert time.perf_counter() - started < 3
        finally:
            slow.close()
    assert _tip_count(engine) == 1


def test_the_server_checkpoints_sqlite_in_the_background(
    seeded: Settings, engine: Engine, tmp_path: Path
) -> None:
    _sqlite_only(seeded)
    database = Path(seeded.effective_database_url.removeprefix("sqlite:///"))
    engine.dispose()
    before = database.stat().st_size
    with live_server(server_env(seeded), tmp_path / "server.log") as base:
        files = [
            ("tip", (None, json.dumps(tip_json()).encode(), "application/json")),
            ("files", ("clip.bin", os.urandom(4 << 20), "application/octet-stream")),
        ]
        body, content_type = _encode_multipart(files)
        conn = _connect(base)
        try:
            conn.request("POST", "/api/v1/tips", body=body, headers={"content-type": content_type})
            assert conn.getresponse().status == 201
        finally:
            conn.close()
        for _ in range(50):  # the request did not checkpoint; the background task will
            if database.stat().st_size >= before + (4 << 20):
                break
            time.sleep(0.1)
    assert database.stat().st_size >= before + (4 << 20)


def _encode_multipart(
    parts: list[tuple[str, tuple[str | None, bytes, str]]],
) -> tuple[bytes, str]:
    boundary = "bgcheckpointboundary"
    out = bytearray()
    for name, (filename, data, media_type) in parts:
        disposition = f'form-data; name="{name}"' + (f'; filename="{filename}"' if filename else "")
        out += f"--{boundary}\r\nContent-Disposition: {disposition}\r\n".encode()
        out += f"Content-Type: {media_type}\r\n\r\n".encode() + data + b"\r\n"
    out += f"--{boundary}--\r\n".encode()
    return bytes(out), f"multipart/form-data; boundary={boundary}"
