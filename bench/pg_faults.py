"""PostgreSQL faults benchmark (issue 11): prints JSON.

Starts a real `probity serve` on a fresh PostgreSQL database (production database limits unless
PROBITY_DB__* is set in the environment), then measures:
- terminated backends: 4 clients submitting tips for `--seconds` while every backend of the
  database is terminated each 100 ms; statuses seen (500 must be 0), then whether it serves again;
- refused: the server's connections closed and new ones refused; seconds until 503;
- stalled: the network between app and database accepts bytes and forwards nothing; seconds
  until a tip, /readyz and a page answer 503, and until tips are taken again after it resumes.

Usage: PYTHONPATH=. .venv/bin/python -m bench.pg_faults [--seconds 10]  (as a module: bench/queue.py
would shadow the standard library's `queue` if run by path)
(PROBITY_BENCH_PG, default postgresql://postgres@127.0.0.1:5432, names the server.)
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import tempfile
import threading
import time
from collections import Counter
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from bench.scratch import scratch_database
from service.config import Settings
from service.db import make_engine
from service.migrations import upgrade
from tests.conftest import CHEAP_KDF
from tests.factories import seed_border, tip_json
from tests.live import Answer, Client, live_server, server_env
from tests.pg_faults import backend_terminator, faulty_proxy

PG_BASE = os.environ.get("PROBITY_BENCH_PG", "postgresql://postgres@127.0.0.1:5432")


@contextmanager
def seeded_database(tmp: Path) -> Iterator[Settings]:
    with scratch_database(PG_BASE, "probity_bench") as url:
        settings = Settings(data_dir=tmp / "var", database_url=url, kdf=CHEAP_KDF)
        engine = make_engine(settings.effective_database_url)
        try:
            upgrade(engine)
            seed_border(engine, settings)
        finally:
            engine.dispose()
        yield settings


def timed(call: Callable[[], Answer]) -> dict[str, object]:
    started = time.monotonic()
    try:
        status: object = call().status_code
    except OSError as exc:
        status = type(exc).__name__
    return {"status": status, "seconds": round(time.monotonic() - started, 2)}


def terminated(settings: Settings, log: Path, seconds: float) -> dict[str, object]:
    seen: Counter[str] = Counter()
    stop = threading.Event()
    with live_server(server_env(settings), log) as base:

        def submit() -> None:
            client = Client(base, timeout=60)
            while not stop.is_set():
                try:
                    seen[str(client.post("/api/v1/tips", json=tip_json()).status_code)] += 1
                except OSError as exc:
                    seen[type(exc).__name__] += 1

        threads = [threading.Thread(target=submit) for _ in range(4)]
        for thread in threads:
            thread.start()
        ended = 0
        with backend_terminator(settings.effective_database_url) as terminate:
            until = time.monotonic() + seconds
            while time.monotonic() < until:
                ended += terminate()
                time.sleep(0.1)
        stop.set()
        for thread in threads:
            thread.join()
        client = Client(base)
        after = [client.post("/api/v1/tips", json=tip_json()).status_code for _ in range(5)]
    return {"seconds": seconds, "backends_ended": ended, "statuses": dict(seen), "after": after}


def faults(settings: Settings, log: Path) -> dict[str, object]:
    out: dict[str, object] = {}
    with faulty_proxy(settings.effective_database_url) as proxy:
        url = proxy.url_for(settings.effective_database_url)
        through = settings.model_copy(update={"database_url": url})
        with live_server(server_env(through), log) as base:
            client = Client(base, timeout=120)
            tip = lambda: client.post("/api/v1/tips", json=tip_json())  # noqa: E731
            assert tip().status_code == 201
            proxy.refuse()
            out["refused"] = {"tip": timed(tip), "readyz": timed(lambda: client.get("/readyz"))}
            proxy.resume()
            out["refused"]["after"] = timed(tip)  # type: ignore[index]
            proxy.stall()  # the pool's connection was just used: no ping, the statement waits
            just_used = timed(tip)
            proxy.resume()
            assert tip().status_code == 201
            time.sleep(1.2)  # idle long enough for the pool's ping
            proxy.stall()
            out["stalled"] = {
                "tip_connection_just_used": just_used,
                "tip_connection_idle": timed(tip),
                "tip": timed(tip),
                "readyz": timed(lambda: client.get("/readyz")),
                "page": timed(lambda: client.get("/report")),
            }
            proxy.resume()
            out["stalled"]["after"] = timed(tip)  # type: ignore[index]
    return out


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--seconds", type=float, default=10.0)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp, seeded_database(Path(tmp)) as settings:
        report = {
            "limits": settings.db.model_dump(),
            "readyz_timeout_seconds": settings.readyz_timeout_seconds,
            "terminated": terminated(settings, Path(tmp) / "a.log", args.seconds),
            **faults(settings, Path(tmp) / "b.log"),
        }
    print(json.dumps(report, indent=1))


if __name__ == "__main__":
    main()
