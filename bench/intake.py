"""Intake benchmark: prints JSON.

Starts a real `probity serve` on SQLite and (when PROBITY_BENCH_PG is set, or by default against
postgresql://postgres@127.0.0.1:5432) PostgreSQL, seeded with 5 staff in the audience, then:
- server CPU seconds per text tip (2-3 KB narrative, 3 subjects), from /proc of the server;
- tips/s and p50/p99 latency at concurrency 1, 16 and 64, and failures (any non-201);
- a 100 MiB attachment: MB/s and the server's peak RSS (VmHWM), against a 10 MiB upload's.

Usage: .venv/bin/python bench/intake.py [--tips 300] [--backends sqlite,postgresql]
Targets (issue 3): <= 5 ms CPU per text tip; >= 200 tips/s on 2 cores with PostgreSQL;
0 failures at any concurrency; >= 150 MB/s streaming with RSS that does not grow with size.
"""

from __future__ import annotations

import argparse
import http.client
import json
import os
import random
import socket
import statistics
import subprocess
import sys
import tempfile
import threading
import time
import uuid
from pathlib import Path

from crypto.age import encrypt_bytes, generate_identity

ROOT = Path(__file__).resolve().parent.parent
PROBITY = str(Path(sys.executable).parent / "probity")
PG_BASE = os.environ.get("PROBITY_BENCH_PG", "postgresql://postgres@127.0.0.1:5432")
SEED = """
from service.config import Settings
from service.db import make_engine, session_scope, make_session_factory
from service.compartments.service import add_compartment
from service.agencies.service import add_agency
from service.staff.models import Role
from service.staff.service import create_staff
from service.instance.setup import kdf_params
s = Settings(); e = make_engine(s.effective_database_url)
with session_scope(make_session_factory(e)) as db:
    add_compartment(db, "us")
    add_agency(db, slug="el-paso-pd", name_en="El Paso PD", name_es="Policia de El Paso",
               compartment="us", country="US")
    for i in range(5):
        create_staff(db, username=f"staff{i}", role=Role.SUPERVISOR if i == 0 else Role.REVIEWER,
                     password="benchmark password", kdf=kdf_params(s), compartments=["us"])
"""
WORDS = (
    "the sergeant took cash from the driver at the bridge and waved the truck through "
    "el comandante recibe dinero cada semana para avisar de los operativos "
).split()


def _port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def _narrative() -> str:
    rng = random.Random()
    text = " ".join(rng.choice(WORDS) for _ in range(450))
    return text[:2600]


def _tip() -> bytes:
    body = {
        "agency": "el-paso-pd",
        "allegations": ["bribery", "leaking"],
        "narrative": _narrative(),
        "subjects": [
            {
                "name": f"Officer {uuid.uuid4().hex[:6]}",
                "badge": str(random.randint(1000, 9999)),
                "rank": "Sgt",
                "unit": "Bridge Unit 3",
            }
            for _ in range(3)
        ],
        "incident_date": "2026-10",
        "location": "Ysleta port of entry",
    }
    return json.dumps(body).encode()


class Server:
    def __init__(self, env: dict[str, str], workers: int) -> None:
        self.port = _port()
        self.proc = subprocess.Popen(
            [PROBITY, "serve", "--port", str(self.port), "--workers", str(workers)],
            env=env,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )
        for _ in range(200):
            try:
                if self.request("GET", "/readyz")[0] == 200:
                    return
            except OSError:
                pass
            time.sleep(0.05)
        raise RuntimeError("server did not become ready")

    def pids(self) -> list[int]:
        children = Path(f"/proc/{self.proc.pid}/task/{self.proc.pid}/children")
        kids = [int(p) for p in children.read_text().split()] if children.exists() else []
        return [self.proc.pid, *kids]

    def cpu_seconds(self) -> float:
        total = 0
        for pid in self.pids():
            fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
            total += int(fields[11]) + int(fields[12])  # utime + stime
        return total / os.sysconf("SC_CLK_TCK")

    def peak_rss_mib(self) -> float:
        peak = 0
        for pid in self.pids():
            for line in Path(f"/proc/{pid}/status").read_text().splitlines():
                if line.startswith("VmHWM:"):
                    peak = max(peak, int(line.split()[1]))
        return peak / 1024

    def request(
        self,
        method: str,
        path: str,
        body: bytes | None = None,
        headers: dict[str, str] | None = None,
    ) -> tuple[int, bytes]:
        conn = http.client.HTTPConnection("127.0.0.1", self.port, timeout=120)
        try:
            conn.request(method, path, body=body, headers=headers or {})
            response = conn.getresponse()
            return response.status, response.read()
        finally:
            conn.close()

    def stop(self) -> None:
        self.proc.terminate()
        self.proc.wait(timeout=30)


def _load(server: Server, concurrency: int, total: int) -> dict[str, object]:
    bodies = [_tip() for _ in range(total)]
    latencies: list[float] = []
    failures: list[int] = []
    lock = threading.Lock()
    queue = list(range(total))

    def worker() -> None:
        conn = http.client.HTTPConnection("127.0.0.1", server.port, timeout=120)
        while True:
            with lock:
                if not queue:
                    break
                i = queue.pop()
            start = time.perf_counter()
            try:
                conn.request(
                    "POST",
                    "/api/v1/tips",
                    body=bodies[i],
                    headers={"content-type": "application/json"},
                )
                response = conn.getresponse()
                response.read()
                status = response.status
            except OSError:
                status = 0
                conn.close()
                conn = http.client.HTTPConnection("127.0.0.1", server.port, timeout=120)
            elapsed = time.perf_counter() - start
            with lock:
                latencies.append(elapsed)
                if status != 201:
                    failures.append(status)
        conn.close()

    cpu0, wall0 = server.cpu_seconds(), time.perf_counter()
    threads = [threading.Thread(target=worker) for _ in range(concurrency)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    wall, cpu = time.perf_counter() - wall0, server.cpu_seconds() - cpu0
    latencies.sort()
    return {
        "concurrency": concurrency,
        "tips": total,
        "tips_per_s": round(total / wall, 1),
        "p50_ms": round(statistics.median(latencies) * 1000, 2),
        "p99_ms": round(latencies[min(len(latencies) - 1, int(len(latencies) * 0.99))] * 1000, 2),
        "server_cpu_ms_per_tip": round(cpu / total * 1000, 2),
        "failures": len(failures),
        "failure_statuses": sorted(set(failures)),
    }


def _multipart(size: int) -> tuple[bytes, bytes, str]:
    boundary = uuid.uuid4().hex
    tip = json.loads(_tip())
    head = (
        f'--{boundary}\r\nContent-Disposition: form-data; name="tip"\r\n'
        f"Content-Type: application/json\r\n\r\n{json.dumps(tip)}\r\n"
        f'--{boundary}\r\nContent-Disposition: form-data; name="files"; filename="video.bin"\r\n'
        f"Content-Type: application/octet-stream\r\n\r\n"
    ).encode()
    return head, f"\r\n--{boundary}--\r\n".encode(), boundary


def _upload(server: Server, size: int) -> dict[str, object]:
    head, tail, boundary = _multipart(size)
    block = os.urandom(1 << 20)
    conn = http.client.HTTPConnection("127.0.0.1", server.port, timeout=600)
    cpu0 = server.cpu_seconds()
    start = time.perf_counter()
    conn.putrequest("POST", "/api/v1/tips")
    conn.putheader("content-type", f"multipart/form-data; boundary={boundary}")
    conn.putheader("content-length", str(len(head) + size + len(tail)))
    conn.endheaders()
    conn.send(head)
    sent = 0
    while sent < size:
        piece = block[: min(len(block), size - sent)]
        conn.send(piece)
        sent += len(piece)
    conn.send(tail)
    response = conn.getresponse()
    body = response.read()
    elapsed = time.perf_counter() - start
    cpu = server.cpu_seconds() - cpu0
    conn.close()
    return {
        "server_cpu_s": round(cpu, 2),
        "bytes": size,
        "status": response.status,
        "mb_per_s": round(size / elapsed / 1e6, 1),
        "seconds": round(elapsed, 2),
        "server_peak_rss_mib": round(server.peak_rss_mib(), 1),
        "ok": response.status == 201 and b"receipt" in body,
    }


def _backend_env(
    backend: str,
    data_dir: Path,
    *,
    server: str = PG_BASE,
    extra: dict[str, str] | None = None,
    prefix: str = "probity_bench",
) -> tuple[dict[str, str], str | None]:
    """The server's environment, and on PostgreSQL the name of the new database on `server` that
    it uses (the caller drops it)."""
    env = {**os.environ, **(extra or {}), "PROBITY_DATA_DIR": str(data_dir)}
    env["PROBITY_LOG_LEVEL"] = "WARNING"
    env.pop("PROBITY_DATABASE_URL", None)
    if backend == "sqlite":
        return env, None
    name = f"{prefix}_{uuid.uuid4().hex[:8]}"
    subprocess.run(["psql", server + "/postgres", "-qc", f'CREATE DATABASE "{name}"'], check=True)
    env["PROBITY_DATABASE_URL"] = f"{server}/{name}"
    return env, name


def run_backend(backend: str, tips: int, workers: int) -> dict[str, object]:
    with tempfile.TemporaryDirectory() as tmp:
        env, pg_name = _backend_env(backend, Path(tmp))
        try:
            secrets = "benchmark admin pw\nbenchmark recovery passphrase\n"
            init = [PROBITY, "init", "--password-stdin", "--recovery-file", f"{tmp}/recovery.age"]
            subprocess.run(init, env=env, input=secrets, text=True, check=True, capture_output=True)
            subprocess.run([sys.executable, "-c", SEED], env=env, check=True, cwd=ROOT)
            server = Server(env, workers)
            try:
                # Warm-up: imports, caches, every worker's pooled connections and their
                # prepared statements (a first-request cost, not a per-tip one).
                _load(server, 16, 200)
                load = [_load(server, c, tips) for c in (1, 16, 64)]
                small = _upload(server, 10 << 20)
                large = _upload(server, 100 << 20)
            finally:
                server.stop()
        finally:
            if pg_name:
                drop = f'DROP DATABASE "{pg_name}" WITH (FORCE)'
                subprocess.run(["psql", PG_BASE + "/postgres", "-qc", drop], check=False)
    return {
        "backend": backend,
        "workers": workers,
        "machine_ms": _machine_ms(),
        "load": load,
        "upload_10mib": small,
        "upload_100mib": large,
    }


def _machine_ms() -> float:
    """CPU ms for a fixed piece of intake's own work (a 3 KB age file to 6 recipients, 100 times):
    this shared machine's speed drifts by a quarter over an hour, so runs compare through it."""
    recipients = [generate_identity()[1] for _ in range(6)]
    payload = os.urandom(3000)
    start = time.thread_time()
    for _ in range(100):
        encrypt_bytes(payload, recipients)
    return round((time.thread_time() - start) * 1000, 1)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--tips", type=int, default=300, help="tips per concurrency level")
    parser.add_argument("--backends", default="sqlite,postgresql")
    parser.add_argument("--workers", type=int, default=2)
    args = parser.parse_args()
    results = [run_backend(b, args.tips, args.workers) for b in args.backends.split(",")]
    json.dump(
        {"benchmark": "intake", "cores": os.cpu_count(), "results": results}, sys.stdout, indent=2
    )
    sys.stdout.write("\n")


if __name__ == "__main__":
    main()
