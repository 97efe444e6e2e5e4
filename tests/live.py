"""A real `probity serve` process for tests that need sockets, processes or a browser."""

from __future__ import annotations

import http.client
import json
import os
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from service.config import Settings
from tests.conftest import CHEAP_KDF

PROBITY = str(Path(sys.executable).parent / "probity")


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def server_env(settings: Settings, **extra: str) -> dict[str, str]:
    env = {
        **os.environ,
        "PROBITY_DATA_DIR": str(settings.data_dir),
        "PROBITY_DATABASE_URL": settings.effective_database_url,
        "PROBITY_KDF__TIME_COST": str(CHEAP_KDF.time_cost),
        "PROBITY_KDF__MEMORY_KIB": str(CHEAP_KDF.memory_kib),
    }
    env.update(extra)
    return env


@contextmanager
def live_server(env: dict[str, str], log: Path) -> Iterator[str]:
    """Serve until the block ends; yields the base URL once /healthz answers."""
    with live_process(env, log) as (base, _server):
        yield base


@contextmanager
def live_process(env: dict[str, str], log: Path) -> Iterator[tuple[str, subprocess.Popen[bytes]]]:
    """Like `live_server`, also yielding the process (to kill it mid-flight)."""
    port = free_port()
    with log.open("w") as sink:
        server = subprocess.Popen(
            [PROBITY, "serve", "--port", str(port)], env=env, stdout=sink, stderr=sink
        )
        try:
            for _ in range(200):
                if server.poll() is not None:
                    raise RuntimeError("server exited: " + log.read_text())
                conn = http.client.HTTPConnection("127.0.0.1", port, timeout=2)
                try:
                    conn.request("GET", "/healthz")
                    if conn.getresponse().status == 200:
                        break
                except OSError:
                    time.sleep(0.05)
                finally:
                    conn.close()
            else:
                raise RuntimeError("server did not start: " + log.read_text())
            yield f"http://127.0.0.1:{port}", server
        finally:
            if server.poll() is None:
                server.terminate()
            server.wait(timeout=15)


@dataclass(frozen=True)
class Answer:
    status_code: int
    headers: dict[str, str]  # names in lower case
    text: str

    def json(self) -> Any:
        return json.loads(self.text)


class Client:
    """Plain HTTP/1.1 to the live server, one connection per request, with a client timeout
    (a server that hangs fails the test instead of hanging it)."""

    def __init__(self, base: str, timeout: float = 15, headers: dict[str, str] | None = None):
        host, port = base.removeprefix("http://").split(":")
        self.address = (host, int(port))
        self.timeout = timeout
        self.headers = headers or {}

    def request(
        self, method: str, path: str, body: object = None, headers: dict[str, str] | None = None
    ) -> Answer:
        """`body` goes as JSON, unless it is bytes (then pass its content-type in `headers`)."""
        conn = http.client.HTTPConnection(*self.address, timeout=self.timeout)
        sent = {**self.headers, **(headers or {})}
        data: str | bytes | None = body if isinstance(body, bytes) else None
        if body is not None and data is None:
            data = json.dumps(body)
            sent["content-type"] = "application/json"
        try:
            conn.request(method, path, body=data, headers=sent)
            response = conn.getresponse()
            text = response.read().decode()
            names = {k.lower(): v for k, v in response.getheaders()}
            return Answer(response.status, names, text)
        finally:
            conn.close()

    def get(self, path: str, headers: dict[str, str] | None = None) -> Answer:
        return self.request("GET", path, headers=headers)

    def post(self, path: str, json: object, headers: dict[str, str] | None = None) -> Answer:
        return self.request("POST", path, json, headers)
