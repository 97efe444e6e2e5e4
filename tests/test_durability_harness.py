"""The durability harness's own pieces (bench/durability), cheaply: the fault proxy really stalls,
refuses and resumes; the summary's targets fail on a lost tip, an error or a slow stall answer.
The harness itself runs with `make durability`, not here."""

from __future__ import annotations

import json
import socket
import socketserver
import threading
from collections.abc import Iterator
from typing import Any

import pytest

from bench.durability.__main__ import main, summary
from bench.durability.proxy import FaultProxy


class _Echo(socketserver.BaseRequestHandler):
    def handle(self) -> None:
        while data := self.request.recv(4096):
            self.request.sendall(data)


@pytest.fixture
def proxy() -> Iterator[FaultProxy]:
    server = socketserver.ThreadingTCPServer(("127.0.0.1", 0), _Echo)
    server.daemon_threads = True
    threading.Thread(target=server.serve_forever, daemon=True).start()
    fault = FaultProxy("127.0.0.1", server.server_address[1])
    fault.start()
    try:
        yield fault
    finally:
        fault.close()
        server.shutdown()
        server.server_close()


def _echo(sock: socket.socket, data: bytes) -> bytes:
    sock.sendall(data)
    return sock.recv(4096)


def test_proxy_stall_holds_bytes_without_closing_then_delivers_them(proxy: FaultProxy) -> None:
    with socket.create_connection(("127.0.0.1", proxy.port), timeout=2) as sock:
        assert _echo(sock, b"before") == b"before"
        proxy.stall()
        sock.settimeout(0.5)
        with pytest.raises(TimeoutError):
            _echo(sock, b"held")
        proxy.resume()
        sock.settimeout(2)
        assert sock.recv(4096) == b"held"


def _closed(sock: socket.socket) -> bool:
    try:
        return sock.recv(4096) == b""
    except ConnectionResetError:
        return True


def test_proxy_refuses_connections_until_resumed(proxy: FaultProxy) -> None:
    with socket.create_connection(("127.0.0.1", proxy.port), timeout=2) as sock:
        assert _echo(sock, b"x") == b"x"
        proxy.refuse()
        assert _closed(sock)  # the open connection is dropped
    with pytest.raises(ConnectionRefusedError):
        socket.create_connection(("127.0.0.1", proxy.port), timeout=2).close()
    proxy.resume()
    with socket.create_connection(("127.0.0.1", proxy.port), timeout=2) as sock:
        assert _echo(sock, b"again") == b"again"


def _kill9(**changes: Any) -> dict[str, Any]:
    result = {
        "lost": 0,
        "duplicated": 0,
        "answers_500": 0,
        "half_stored_blobs": 0,
        "gave_up": 0,
        "unreadable": 0,
        "mismatched": 0,
        "integrity_check": "ok",
    }
    return {**result, **changes}


def test_summary_is_json_and_every_target_counts() -> None:
    good = summary({"sqlite": {"kill9": _kill9()}}, "short", 1.0)
    assert json.loads(json.dumps(good))["all_targets_met"] is True
    assert good["targets_met"]["sqlite.kill9"]["0 lost"] is True
    lost = summary({"sqlite": {"kill9": _kill9(lost=1)}}, "short", 1.0)
    assert lost["all_targets_met"] is False
    assert lost["missed"] == ["sqlite.kill9: 0 lost"]
    broken = summary({"postgresql": {"uploads": {"error": "RuntimeError: x"}}}, "short", 1.0)
    assert broken["all_targets_met"] is False
    skipped = summary({"sqlite": {"disk_full": {"skipped": "mount not allowed"}}}, "short", 1.0)
    assert skipped["all_targets_met"] is True


def test_a_stall_answered_late_or_not_at_all_misses_its_target() -> None:
    late = {"submit": {"status": "503", "seconds": 7.5}, "readyz": {"status": "none:Timeout"}}
    met = summary({"postgresql": {"pg_stall": {**late, "recovered_after_s": 0.1}}}, "short", 1)
    checks = met["targets_met"]["postgresql.pg_stall"]
    assert checks == {
        "submission answered 503 within 5 s": False,
        "/readyz answered 503 within 5 s": False,
        "recovered after the stall": True,
    }


def test_postgresql_without_a_url_is_a_usage_error(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("PROBITY_TEST_DATABASE_URL", raising=False)
    assert main(["--backend", "postgresql"]) == 2
