"""Upload flood benchmark: prints JSON.

Starts a real `probity serve` (as bench/intake.py does) on SQLite and PostgreSQL, then:
- one 50 MiB upload alone: MB/s;
- 8 reporters (text tips) add evidence 4 times each, all 32 at once (2 MiB each,
  `/api/v1/reporter/attachments`): stored = files their status then lists;
- 8 x 4 new tips with a 2 MiB file, all 32 at once: stored = receipts that log in and list it.
Reports stored counts, p50 and max seconds and the statuses of failures.

Usage: PYTHONPATH=. .venv/bin/python bench/uploads.py [--backends sqlite,postgresql]
Target (issue 11): every upload stored, none slower than 30 s, on 2 cores, on both backends.
"""

from __future__ import annotations

import argparse
import http.client
import json
import os
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Callable
from pathlib import Path

# Run as a script, bench/ leads sys.path, where bench/queue.py would shadow the standard library's
# queue: the project root takes its place.
sys.path[0] = str(Path(__file__).resolve().parents[1])

from bench.intake import (  # noqa: E402
    PG_BASE,
    PROBITY,
    ROOT,
    SEED,
    Server,
    _backend_env,
    _machine_ms,
    _tip,
    _upload,
)
from tests.routes.asgi_stream import multipart  # noqa: E402

PIECE = 64 * 1024
CLIENT_TIMEOUT = 120  # a server that hangs shows as status 0, not as a stuck benchmark


def _post(port: int, path: str, body: bytes, headers: dict[str, str]) -> tuple[int, bytes]:
    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=CLIENT_TIMEOUT)
    try:
        conn.putrequest("POST", path)
        for name, value in {**headers, "content-length": str(len(body))}.items():
            conn.putheader(name, value)
        conn.endheaders()
        for start in range(0, len(body), PIECE):  # streamed like a client on a fast link
            conn.send(body[start : start + PIECE])
        response = conn.getresponse()
        return response.status, response.read()
    except OSError:
        return 0, b""
    finally:
        conn.close()


def _at_once(jobs: list[Callable[[], tuple[int, bytes]]]) -> list[tuple[int, bytes, float]]:
    results: list[tuple[int, bytes, float]] = [(0, b"", 0.0)] * len(jobs)
    barrier = threading.Barrier(len(jobs))

    def run(i: int) -> None:
        barrier.wait()
        start = time.perf_counter()
        status, body = jobs[i]()
        results[i] = (status, body, time.perf_counter() - start)

    threads = [threading.Thread(target=run, args=(i,)) for i in range(len(jobs))]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    return results


def _summary(results: list[tuple[int, bytes, float]], stored: int) -> dict[str, object]:
    seconds = sorted(r[2] for r in results) or [float("nan")]  # no reporter got in
    return {
        "uploads": len(results),
        "stored": stored,
        "p50_s": round(statistics.median(seconds), 2),
        "max_s": round(seconds[-1], 2),
        "failure_statuses": sorted({r[0] for r in results if r[0] != 201}),
    }


def _login(port: int, receipt: str) -> str | None:
    body = json.dumps({"receipt": receipt}).encode()
    status, answer = _post(
        port, "/api/v1/reporter/session", body, {"content-type": "application/json"}
    )
    return json.loads(answer)["token"] if status == 200 else None


def _files(server: Server, token: str) -> int:
    """How many files the reporter sees; 0 if the server does not answer."""
    try:
        status, answer = server.request(
            "GET", "/api/v1/reporter/tip", headers={"authorization": f"Bearer {token}"}
        )
    except OSError:
        return 0
    return len(json.loads(answer)["attachments"]) if status == 200 else 0


def _json_tip(port: int) -> tuple[int, bytes]:
    return _post(port, "/api/v1/tips", _tip(), {"content-type": "application/json"})


def _evidence_flood(server: Server, reporters: int, per: int, size: int) -> dict[str, object]:
    """Reporters with a text tip each add `per` files at once, all of them together."""
    receipts = [json.loads(_json_tip(server.port)[1])["receipt"] for _ in range(reporters)]
    tokens = [t for t in (_login(server.port, r) for r in receipts) if t is not None]

    def job_for(token: str) -> Callable[[], tuple[int, bytes]]:
        def job() -> tuple[int, bytes]:
            body, boundary = multipart([("files", "b.bin", os.urandom(size))])
            headers = {
                "content-type": f"multipart/form-data; boundary={boundary}",
                "authorization": f"Bearer {token}",
            }
            return _post(server.port, "/api/v1/reporter/attachments", body, headers)

        return job

    added = _at_once([job_for(t) for t in tokens for _ in range(per)])
    return _summary(added, sum(_files(server, t) for t in tokens))


def _tip_flood(server: Server, reporters: int, per: int, size: int) -> dict[str, object]:
    """`reporters` x `per` new tips with a file each, all at once."""

    def job() -> tuple[int, bytes]:
        body, boundary = multipart([("tip", None, _tip()), ("files", "a.bin", os.urandom(size))])
        headers = {"content-type": f"multipart/form-data; boundary={boundary}"}
        return _post(server.port, "/api/v1/tips", body, headers)

    tips = _at_once([job for _ in range(reporters * per)])
    receipts = [json.loads(b)["receipt"] for s, b, _ in tips if s == 201]
    tokens = [t for t in (_login(server.port, r) for r in receipts) if t is not None]
    return _summary(tips, sum(1 for t in tokens if _files(server, t) == 1))


def _phases(server: Server, reporters: int, per: int, size: int) -> dict[str, object]:
    # One upload alone first (its speed), then the floods: a server they wedge fails them all.
    single = _upload(server, 50 << 20)
    cpu0 = server.cpu_seconds()
    evidence = _evidence_flood(server, reporters, per, size)
    print(json.dumps({"evidence_added": evidence}), file=sys.stderr, flush=True)  # if it hangs
    tips = _tip_flood(server, reporters, per, size)
    return {
        "upload_50mib": single,
        "evidence_added": evidence,
        "tips_with_a_file": tips,
        "floods_server_cpu_s": round(server.cpu_seconds() - cpu0, 1),
    }


def _stop(server: Server) -> None:
    try:
        server.stop()
    except subprocess.TimeoutExpired:  # wedged: in-flight requests never finish
        server.proc.kill()
        server.proc.wait(timeout=30)


def run_backend(backend: str, reporters: int, per: int, size: int) -> dict[str, object]:
    with tempfile.TemporaryDirectory() as tmp:
        env, pg_name = _backend_env(backend, Path(tmp))
        env["PYTHONPATH"] = str(ROOT)
        try:
            secrets = "benchmark admin pw\nbenchmark recovery passphrase\n"
            init = [PROBITY, "init", "--password-stdin", "--recovery-file", f"{tmp}/recovery.age"]
            subprocess.run(init, env=env, input=secrets, text=True, check=True, capture_output=True)
            subprocess.run([sys.executable, "-c", SEED], env=env, check=True, cwd=ROOT)
            server = Server(env, 1)
            try:
                phases = _phases(server, reporters, per, size)
            finally:
                _stop(server)
        finally:
            if pg_name:
                drop = f'DROP DATABASE "{pg_name}" WITH (FORCE)'
                subprocess.run(["psql", PG_BASE + "/postgres", "-qc", drop], check=False)
    return {"backend": backend, "machine_ms": _machine_ms(), **phases}


def main() -> None:
    parser = argparse.ArgumentParser(description=(__doc__ or "").splitlines()[0])
    parser.add_argument("--backends", default="sqlite,postgresql")
    parser.add_argument("--reporters", type=int, default=8)
    parser.add_argument("--uploads", type=int, default=4, help="uploads per reporter, at once")
    parser.add_argument("--mib", type=float, default=2.0, help="size of each upload")
    args = parser.parse_args()
    size = int(args.mib * (1 << 20))
    load = os.getloadavg()
    results = []
    for backend in args.backends.split(","):
        results.append(run_backend(backend, args.reporters, args.uploads, size))
        print(json.dumps(results[-1]), file=sys.stderr, flush=True)
    report = {
        "benchmark": "uploads",
        "cores": os.cpu_count(),
        "load_before": load,
        "results": results,
    }
    json.dump(report, sys.stdout, indent=2)
    sys.stdout.write("\n")


if __name__ == "__main__":
    main()
