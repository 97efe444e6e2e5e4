"""Concurrent uploads: R reporters each send U tips with one 2 MiB file, all R x U at once (the
8 x 4 run). Every upload must be stored, none twice, each within the target time."""

from __future__ import annotations

import time
from typing import Any

from bench.durability.checks import integrity_check, tip_ids, verify_outcome
from bench.durability.client import multipart_submission
from bench.durability.instance import Instance, Proc
from bench.durability.load import Load, from_list

__all__ = ["uploads"]


def uploads(
    inst: Instance, *, reporters: int, each: int, size: int, limit_s: float = 120.0
) -> dict[str, Any]:
    """`limit_s` bounds the run: an upload not stored by then counts as given up."""
    subs = [multipart_submission([size]) for _ in range(reporters * each)]
    before = tip_ids(inst.engine)
    server = Proc(inst)
    server.start()
    try:
        load = Load(server.port, timeout=limit_s / 2, pause=0.5)
        began = time.monotonic()
        load.run(len(subs), from_list(subs), began + limit_s / 2)
        wall = time.monotonic() - began
        outcome = verify_outcome(server.port, inst, before, load)
    finally:
        server.stop()
    return {
        "reporters": reporters,
        "uploads_each": each,
        "file_bytes": size,
        "wall_s": round(wall, 2),
        **load.summary(),
        **outcome,
        "integrity_check": integrity_check(inst),
    }
