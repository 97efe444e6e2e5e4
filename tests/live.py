"""A real `probity serve` process for tests that need sockets, processes or a browser."""

from __future__ import annotations

import http.client
import os
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

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
