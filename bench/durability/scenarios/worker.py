"""Worker kills during flush and checkpoint: a backlog of pending reporter audit events, then
`probity worker` (flush and checkpoint every half second) killed with -9 at random moments while
more events arrive. Afterwards one clean `probity worker --once` drains the rest; every event must
be in the log exactly once, the exported log must verify, and the backlog must have shrunk while
the kills went on.
"""

from __future__ import annotations

import random
import time
import uuid
from collections import Counter
from datetime import date
from pathlib import Path
from typing import Any

from sqlalchemy import func, select

from bench.durability.checks import integrity_check
from bench.durability.instance import Instance, kill_group
from service.audit.models import AuditEntry, PendingAuditEntry
from service.audit.pending import record_reporter_events
from service.db import make_session_factory, session_scope

__all__ = ["worker_kills"]

ACTION = "tip.submitted"
FAST = {"PROBITY_AUDIT_FLUSH_SECONDS": "0.5", "PROBITY_CHECKPOINT_SECONDS": "0.5"}


def add_backlog(inst: Instance, count: int) -> set[uuid.UUID]:
    """`count` pending events as intake writes them, one per (made-up) tip."""
    ids = {uuid.uuid4() for _ in range(count)}
    factory = make_session_factory(inst.engine)
    batch = sorted(ids)
    for start in range(0, count, 2000):
        with session_scope(factory) as session:
            for tip_id in batch[start : start + 2000]:
                record_reporter_events(session, [(ACTION, {})], day=date.today(), tip_id=tip_id)
    return ids


def pending_count(inst: Instance) -> int:
    with inst.engine.connect() as conn:
        return int(conn.execute(select(func.count()).select_from(PendingAuditEntry)).scalar_one())


def _kill_rounds(
    inst: Instance, rounds: int, refill: int, rng: random.Random
) -> tuple[list[int], set[uuid.UUID]]:
    """Start, wait a random moment, kill -9; returns the backlog after each round and the ids of
    the events added between rounds."""
    backlog: list[int] = []
    added: set[uuid.UUID] = set()
    for n in range(rounds):
        proc = inst.start(["worker"], "worker.log", **FAST)
        time.sleep(rng.uniform(0.8, 4.0))
        kill_group(proc)
        backlog.append(pending_count(inst))
        if n % 2 == 1:
            added |= add_backlog(inst, refill)  # so checkpoints have new entries to sign
    return backlog, added


def _counts(inst: Instance, expected: set[uuid.UUID]) -> dict[str, int]:
    with inst.engine.connect() as conn:
        logged = Counter(
            tip_id
            for (tip_id,) in conn.execute(
                select(AuditEntry.tip_id).where(AuditEntry.action == ACTION)
            )
        )
        pending = {
            uuid.UUID(d["tip_id"]) for (d,) in conn.execute(select(PendingAuditEntry.details))
        }
    return {
        "events": len(expected),
        "logged": sum(1 for tip in expected if logged[tip] > 0),
        "still_pending": len(expected & pending),
        "lost": sum(1 for tip in expected if logged[tip] == 0 and tip not in pending),
        "duplicated": sum(n - 1 for tip, n in logged.items() if n > 1),
    }


def _verify_log(inst: Instance) -> dict[str, Any]:
    """`probity audit export`, `audit key` and `audit verify`, as an auditor would run them."""
    export = inst.root / "audit.jsonl"
    exported = inst.run(["audit", "export", str(export)])
    key = inst.run(["audit", "key"])
    key_file = Path(str(export) + ".pub")
    key_file.write_text(key.stdout.strip() + "\n")
    checkpoint = str(export) + ".checkpoint"
    verify = inst.run(
        ["audit", "verify", str(export), "--checkpoint", checkpoint, "--key", str(key_file)]
    )
    ok = exported.returncode == key.returncode == verify.returncode == 0
    text = (verify.stdout + verify.stderr + exported.stderr).strip().splitlines()
    return {"verify_ok": ok, "verify_says": text[0][:200] if text else ""}


def worker_kills(
    inst: Instance, *, rounds: int, backlog: int, seed: int | None = None
) -> dict[str, Any]:
    rng = random.Random(seed)
    expected = add_backlog(inst, backlog)
    refill = max(1, backlog // 4)
    after, added = _kill_rounds(inst, rounds, refill, rng)
    expected |= added
    began = time.monotonic()
    drained = inst.run(["worker", "--once"])
    drain_s = time.monotonic() - began
    return {
        "rounds": rounds,
        "backlog_start": backlog,
        "backlog_after_each_kill": after,
        "backlog_shrank": min(after, default=backlog) < backlog,
        "final_drain_ok": drained.returncode == 0,
        "final_drain_s": round(drain_s, 2),
        **_counts(inst, expected),
        **_verify_log(inst),
        "integrity_check": integrity_check(inst),
    }
