"""`probity serve` over real sockets: slow and idle connections are closed, a connection limit
holds, and nothing the server logs about a connection dates it (issue 10)."""

from __future__ import annotations

import json
import re
import socket
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from service.config import Settings
from tests.live import live_server, server_env

TIMESTAMP = re.compile(r"\d{4}-\d{2}-\d{2}[T ]\d{2}:\d{2}")


@pytest.fixture
def server(tmp_path: Path) -> Iterator[tuple[str, int, Path]]:
    settings = Settings(data_dir=tmp_path / "var", database_url="")
    env = server_env(
        settings,
        PROBITY_HTTP_HEADER_TIMEOUT_SECONDS="1",
        PROBITY_HTTP_KEEP_ALIVE_SECONDS="1",
        PROBITY_HTTP_MAX_CONNECTIONS="4",
    )
    log = tmp_path / "server.log"
    with live_server(env, log) as base:
        host, port = base.removeprefix("http://").split(":")
        yield host, int(port), log


def _connect(host: str, port: int) -> socket.socket:
    conn = socket.create_connection((host, port), timeout=6)
    return conn


def _closed_within(conn: socket.socket, seconds: float) -> float:
    """Seconds until the server closed `conn` (reads until EOF); fails after `seconds`."""
    started = time.monotonic()
    conn.settimeout(seconds)
    try:
        while conn.recv(4096):
            pass
    except TimeoutError:
        pytest.fail(f"connection still open after {seconds} s")
    except ConnectionResetError:
        pass
    return time.monotonic() - started


def test_a_slow_header_connection_is_closed_within_the_timeout(
    server: tuple[str, int, Path],
) -> None:
    host, port, _log = server
    with _connect(host, port) as conn:
        conn.sendall(b"GET /healthz HTTP/1.1\r\nHost: probity\r\n")
        time.sleep(0.5)
        conn.sendall(b"X-Slow: 1\r\n")  # trickling bytes does not extend the deadline
        assert _closed_within(conn, 4) < 3


def test_a_connection_that_sends_nothing_is_closed(server: tuple[str, int, Path]) -> None:
    host, port, _log = server
    with _connect(host, port) as conn:
        assert _closed_within(conn, 4) < 3


def test_an_idle_keep_alive_connection_is_closed(server: tuple[str, int, Path]) -> None:
    host, port, _log = server
    with _connect(host, port) as conn:
        conn.sendall(b"GET /healthz HTTP/1.1\r\nHost: probity\r\n\r\n")
        assert b"200 OK" in conn.recv(4096)
        assert _closed_within(conn, 4) < 3


def test_beyond_the_connection_limit_requests_get_503(server: tuple[str, int, Path]) -> None:
    host, port, _log = server
    idle = [_connect(host, port) for _ in range(4)]
    try:
        time.sleep(0.2)
        with _connect(host, port) as conn:
            conn.sendall(b"GET /healthz HTTP/1.1\r\nHost: probity\r\n\r\n")
            assert conn.recv(4096).startswith(b"HTTP/1.1 503")
    finally:
        for conn in idle:
            conn.close()


def test_a_malformed_request_is_answered_and_logged_without_a_time(
    server: tuple[str, int, Path],
) -> None:
    host, port, log = server
    time.sleep(0.3)
    before = log.read_text().splitlines()
    with _connect(host, port) as conn:
        conn.sendall(b"NOT HTTP AT ALL\x00\r\n\r\n")
        assert conn.recv(4096).startswith(b"HTTP/1.1 400")
    with _connect(host, port) as conn:
        conn.sendall(b"GET / HTTP/1.1\r\nHost: probity\r\nBad Header\r\n\r\n")
        assert conn.recv(4096).startswith(b"HTTP/1.1 400")
    time.sleep(0.5)
    output = log.read_text()
    after = output.splitlines()[len(before) :]
    assert "Invalid HTTP request" not in output
    assert [line for line in after if TIMESTAMP.search(line)] == []
    for line in after:
        json.loads(line)  # anything written is one of our JSON lines
