"""kill -9 rounds: clients submit multipart tips with Idempotency-Keys while the server is killed
at random moments and restarted; every submission without an answer is retried with the same key
and bytes. Afterwards every receipt must log in and decrypt, no key may have two tips, no blob may
be half stored, and SQLite's integrity check must say ok.
"""

from __future__ import annotations

import random
import threading
import time
from typing import Any

from bench.durability.checks import integrity_check, tip_ids, verify_outcome
from bench.durability.client import multipart_submission
from bench.durability.instance import Instance, Proc
from bench.durability.load import Load, until

__all__ = ["kill9"]

FILES = [8 << 10, 96 << 10]  # two small files per tip


def kill9(inst: Instance, *, rounds: int, clients: int, seed: int | None = None) -> dict[str, Any]:
    rng = random.Random(seed)
    before = tip_ids(inst.engine)
    server = Proc(inst)
    server.start()
    load = Load(server.port, timeout=30, pause=0.3)
    stop = threading.Event()
    # Retries go on until stored, within a bound so a server that never recovers cannot hang
    # the run: about 5 s a round, then 90 s.
    deadline = time.monotonic() + 5 * rounds + 90
    traffic = load.start(clients, until(stop, lambda: multipart_submission(FILES)), deadline)
    restarts: list[float] = []
    try:
        for _ in range(rounds):
            time.sleep(rng.uniform(0.5, 2.5))
            restarts.append(server.restart())
        time.sleep(1.0)
        stop.set()
        traffic.join()
        outcome = verify_outcome(server.port, inst, before, load)
    finally:
        stop.set()
        server.stop()
    return {
        "rounds": rounds,
        "clients": clients,
        "restart_s_max": round(max(restarts, default=0.0), 2),
        **load.summary(),
        **outcome,
        "integrity_check": integrity_check(inst),
    }
