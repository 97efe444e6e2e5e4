"""WAL flood (SQLite): clients send JSON tips as fast as they are answered for N seconds while
the WAL file's size is sampled every 0.1 s; its maximum and final size, the rate, and the
answers by status."""

from __future__ import annotations

import threading
import time
from pathlib import Path
from typing import Any

from bench.durability.checks import integrity_check, tip_ids, verify_outcome, wal_bytes
from bench.durability.client import json_submission
from bench.durability.instance import Instance, Proc
from bench.durability.load import Load, until

__all__ = ["wal_flood"]

MIB = 1 << 20


def _sample(path_wal: Path, stop: threading.Event, sizes: list[int]) -> None:
    while not stop.wait(0.1):
        sizes.append(wal_bytes(path_wal))


def wal_flood(inst: Instance, *, seconds: float, clients: int) -> dict[str, Any]:
    db = inst.sqlite_path()
    if db is None:
        return {"skipped": "SQLite only"}
    before = tip_ids(inst.engine)
    server = Proc(inst)
    server.start()
    sizes: list[int] = []
    done = threading.Event()
    sampler = threading.Thread(target=_sample, args=(db, done, sizes), daemon=True)
    try:
        load = Load(server.port, timeout=30, pause=0.2)
        stop = threading.Event()
        sampler.start()
        began = time.monotonic()
        traffic = load.start(clients, until(stop, json_submission), began + seconds + 60)
        time.sleep(seconds)
        stop.set()
        traffic.join()
        elapsed = time.monotonic() - began
        time.sleep(1.0)
        done.set()
        sampler.join()
        outcome = verify_outcome(
            server.port, inst, before, load, open_tips=False, receipt_sample=100
        )
    finally:
        done.set()
        server.stop()
    return {
        "seconds": seconds,
        "clients": clients,
        "tips_per_s": round(len(load.receipts) / elapsed, 1),
        "wal_max_mib": round(max(sizes, default=0) / MIB, 1),
        "wal_final_mib": round(sizes[-1] / MIB, 1) if sizes else 0.0,  # 1 s after the flood
        **load.summary(),
        **outcome,
        "integrity_check": integrity_check(inst),
    }
