"""WAL flood benchmark: prints JSON.

Starts a real `probity serve` (SQLite under a temporary data directory; with `--backends
postgresql`, a fresh database on the server at PROBITY_BENCH_DATABASE_URL, default
postgresql://postgres@127.0.0.1:5432), then floods it with JSON tips from `--clients` keep-alive
connections at full speed for `--seconds`, while a sampler stats `<db>-wal` every 10 ms. Reports
tips/s accepted, every status seen (503s, 500s), the largest and final WAL size and the database
size, and whether every accepted tip is in the database. Then kills the server with SIGKILL
(leaving the WAL as a crash would) and times a restart to the first `/readyz` 200.

With `--pin-seconds N` (SQLite), a reader holds a transaction open for the flood's first N seconds,
as a backup tool might: no checkpoint can reset the WAL meanwhile, so intake must push back (503).

Usage: .venv/bin/python bench/wal_flood.py [--seconds 30] [--clients 16] [--workers 2]
       [--backends sqlite,postgresql] [--pin-seconds 0]
Target (issue 11): the WAL stays <= 64 MiB through a 30 s flood, no 500s, nothing lost.
"""

from __future__ import annotations

import argparse
import http.client
import json
import os
import signal
import sqlite3
import subprocess
import sys
import tempfile
import threading
import time
from collections import Counter
from pathlib import Path

_HERE = Path(__file__).resolve().parent
sys.path[:] = [p for p in sys.path if Path(p or ".").resolve() != _HERE]
sys.path.insert(0, str(_HERE.parent))

from bench.intake import SEED, _backend_env, _port, _tip  # noqa: E402

ROOT = _HERE.parent
PROBITY = str(Path(sys.executable).parent / "probity")
PG_BASE = os.environ.get("PROBITY_BENCH_DATABASE_URL", "postgresql://postgres@127.0.0.1:5432")
MIB = 1 << 20
CHEAP_KDF = {"PROBITY_KDF__TIME_COST": "1", "PROBITY_KDF__MEMORY_KIB": "64"}


def _start(env: dict[str, str], workers: int, port: int) -> tuple[subprocess.Popen[bytes], float]:
    """`probity serve` in its own process group; returns it and the seconds to `/readyz` 200."""
    start = time.perf_counter()
    proc = subprocess.Popen(
        [PROBITY, "serve", "--port", str(port), "--workers", str(workers)],
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
        start_new_session=True,
    )
    while time.perf_counter() - start < 120:
        try:
            conn = http.client.HTTPConnection("127.0.0.1", port, timeout=5)
            conn.request("GET", "/readyz")
            if conn.getresponse().status == 200:
                return proc, time.perf_counter() - start
        except OSError:
            pass
        time.sleep(0.02)
    os.killpg(proc.pid, signal.SIGKILL)
    raise RuntimeError("server did not become ready")


class Flood:
    """Clients posting tips until the deadline; a sampler watching the WAL file."""

    def __init__(self, port: int, wal: Path | None) -> None:
        self.port = port
        self.wal = wal
        self.statuses: Counter[int] = Counter()
        self.retry_after: Counter[str] = Counter()
        self.max_wal = 0
        self.lock = threading.Lock()
        self.deadline = 0.0

    def client(self) -> None:
        bodies = [_tip() for _ in range(50)]
        conn = http.client.HTTPConnection("127.0.0.1", self.port, timeout=60)
        i = 0
        while time.perf_counter() < self.deadline:
            i += 1
            try:
                conn.request(
                    "POST",
                    "/api/v1/tips",
                    body=bodies[i % len(bodies)],
                    headers={"content-type": "application/json"},
                )
                response = conn.getresponse()
                response.read()
                status, retry = response.status, response.getheader("retry-after")
            except OSError:
                status, retry = 0, None
                conn.close()
                conn = http.client.HTTPConnection("127.0.0.1", self.port, timeout=60)
            with self.lock:
                self.statuses[status] += 1
                if retry is not None:
                    self.retry_after[retry] += 1
        conn.close()

    def sample(self) -> None:
        while self.wal is not None and time.perf_counter() < self.deadline + 1:
            try:
                self.max_wal = max(self.max_wal, self.wal.stat().st_size)
            except FileNotFoundError:
                pass
            time.sleep(0.01)

    def pin(self, db: Path, seconds: float) -> None:
        """A reader on an old snapshot for `seconds`."""
        reader = sqlite3.connect(db)
        try:
            reader.execute("BEGIN")
            reader.execute("SELECT count(*) FROM tips").fetchone()
            time.sleep(seconds)
        finally:
            reader.rollback()
            reader.close()

    def run(self, clients: int, seconds: float, pin: tuple[Path, float] | None) -> float:
        self.deadline = time.perf_counter() + seconds
        start = time.perf_counter()
        threads = [threading.Thread(target=self.client) for _ in range(clients)]
        if pin is not None:
            threads.append(threading.Thread(target=self.pin, args=pin))
        threads.append(threading.Thread(target=self.sample))
        for t in threads:
            t.start()
        for t in threads[:-1]:
            t.join()
        elapsed = time.perf_counter() - start
        threads[-1].join()
        return elapsed


def _stored_tips(backend: str, db: Path, env: dict[str, str]) -> int:
    if backend == "sqlite":
        with sqlite3.connect(db) as conn:
            return int(conn.execute("SELECT count(*) FROM tips").fetchone()[0])
    out = subprocess.run(
        ["psql", env["PROBITY_DATABASE_URL"], "-tAc", "SELECT count(*) FROM tips"],
        check=True,
        capture_output=True,
        text=True,
    )
    return int(out.stdout.strip())


def _db_mib(backend: str, db: Path, env: dict[str, str]) -> float:
    if backend == "sqlite":
        return round(db.stat().st_size / MIB, 1)
    query = "SELECT pg_database_size(current_database())"
    out = subprocess.run(
        ["psql", env["PROBITY_DATABASE_URL"], "-tAc", query],
        check=True,
        capture_output=True,
        text=True,
    )
    return round(int(out.stdout.strip()) / MIB, 1)


def _wal_mib(wal: Path | None) -> float | None:
    if wal is None:
        return None
    return round(wal.stat().st_size / MIB, 2) if wal.exists() else 0.0


def run_backend(
    backend: str, seconds: float, clients: int, workers: int, pin_seconds: float
) -> dict[str, object]:
    with tempfile.TemporaryDirectory() as tmp:
        env, pg_name = _backend_env(
            backend, Path(tmp), server=PG_BASE, extra=CHEAP_KDF, prefix="probity_walflood"
        )
        db = Path(tmp) / "probity.db"
        wal = Path(f"{db}-wal") if backend == "sqlite" else None
        try:
            secrets = "benchmark admin pw\nbenchmark recovery passphrase\n"
            init = [PROBITY, "init", "--password-stdin", "--recovery-file", f"{tmp}/recovery.age"]
            subprocess.run(init, env=env, input=secrets, text=True, check=True, capture_output=True)
            subprocess.run([sys.executable, "-c", SEED], env=env, check=True, cwd=ROOT)
            port = _port()
            server, _ = _start(env, workers, port)
            try:
                flood = Flood(port, wal)
                pin = (db, pin_seconds) if pin_seconds and backend == "sqlite" else None
                elapsed = flood.run(clients, seconds, pin)
                wal_end = _wal_mib(wal)
            finally:
                os.killpg(server.pid, signal.SIGKILL)  # a crash: the WAL stays as it is
                server.wait()
            wal_after_kill = _wal_mib(wal)
            server, restart_s = _start(env, workers, port)
            os.killpg(server.pid, signal.SIGTERM)
            server.wait(timeout=30)
            accepted = flood.statuses[201]
            stored = _stored_tips(backend, db, env)
            result = {
                "backend": backend,
                "workers": workers,
                "clients": clients,
                "pinned_s": pin_seconds if pin else 0,
                "seconds": round(elapsed, 1),
                "accepted_tips_per_s": round(accepted / elapsed, 1),
                "accepted": accepted,
                "stored": stored,
                "lost": max(0, accepted - stored),
                "status_counts": {str(k): v for k, v in sorted(flood.statuses.items())},
                "count_503": flood.statuses[503],
                "count_500": flood.statuses[500],
                "retry_after_values": dict(flood.retry_after),
                "max_wal_mib": round(flood.max_wal / MIB, 2) if wal else None,
                "wal_at_end_mib": wal_end,
                "wal_after_kill_mib": wal_after_kill,
                "db_mib": _db_mib(backend, db, env),
                "restart_to_ready_s": round(restart_s, 2),
            }
        finally:
            if pg_name:
                drop = f'DROP DATABASE "{pg_name}" WITH (FORCE)'
                subprocess.run(["psql", PG_BASE + "/postgres", "-qc", drop], check=False)
    return result


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seconds", type=float, default=30.0)
    parser.add_argument("--clients", type=int, default=16)
    parser.add_argument("--workers", type=int, default=2, help="probity serve --workers")
    default = "sqlite,postgresql" if "PROBITY_BENCH_DATABASE_URL" in os.environ else "sqlite"
    parser.add_argument("--backends", default=default)
    parser.add_argument("--pin-seconds", type=float, default=0.0)
    args = parser.parse_args()
    results = [
        run_backend(b, args.seconds, args.clients, args.workers, args.pin_seconds)
        for b in args.backends.split(",")
    ]
    json.dump(
        {"benchmark": "wal_flood", "cores": os.cpu_count(), "results": results},
        sys.stdout,
        indent=2,
    )
    sys.stdout.write("\n")


if __name__ == "__main__":
    main()
