"""What `make run` does, for real: `probity demo`, then `probity serve`, then HTTP over a socket."""

from __future__ import annotations

import os
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.request
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.conftest import CHEAP_KDF

PROBITY = str(Path(sys.executable).parent / "probity")
CANARY_UA = "Canary-Agent/7.7"


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def _get(url: str) -> tuple[int, str]:
    request = urllib.request.Request(url, headers={"User-Agent": CANARY_UA})  # noqa: S310
    try:
        with urllib.request.urlopen(request, timeout=5) as response:  # noqa: S310
            return response.status, response.read().decode()
    except urllib.error.HTTPError as exc:
        return exc.code, exc.read().decode()


@pytest.fixture
def demo_server(tmp_path: Path) -> Iterator[tuple[str, Path]]:
    env = {
        **os.environ,
        "PROBITY_DATA_DIR": str(tmp_path / "var"),
        "PROBITY_KDF__TIME_COST": str(CHEAP_KDF.time_cost),
        "PROBITY_KDF__MEMORY_KIB": str(CHEAP_KDF.memory_kib),
    }
    env.pop("PROBITY_DATABASE_URL", None)
    demo = subprocess.run([PROBITY, "demo"], env=env, capture_output=True, text=True, timeout=120)
    assert demo.returncode == 0, demo.stderr
    port = _free_port()
    log = tmp_path / "server.log"
    with log.open("w") as sink:
        server = subprocess.Popen(
            [PROBITY, "serve", "--port", str(port)], env=env, stdout=sink, stderr=sink
        )
        base = f"http://127.0.0.1:{port}"
        try:
            for _ in range(100):
                try:
                    if _get(base + "/healthz")[0] == 200:
                        break
                except OSError:
                    time.sleep(0.1)
            else:
                pytest.fail("server did not start: " + log.read_text())
            yield base, log
        finally:
            server.terminate()
            server.wait(timeout=10)


def test_demo_instance_serves_health_readiness_and_bilingual_landing(
    demo_server: tuple[str, Path],
) -> None:
    base, log = demo_server
    assert _get(base + "/healthz") == (200, '{"status":"ok"}')
    status, body = _get(base + "/readyz")
    assert status == 200, body
    status, english = _get(base + "/")
    assert status == 200
    assert '<html lang="en"' in english
    status, spanish = _get(base + "/?lang=es")
    assert status == 200
    assert '<html lang="es"' in spanish
    assert "Tor" in spanish
    # Neither the client address nor the user agent reaches the server's output.
    output = log.read_text()
    assert CANARY_UA not in output
    assert "127.0.0.1:" not in output.replace(f"127.0.0.1:{base.rsplit(':', 1)[1]}", "")
