"""Worker kills during flush and checkpoint: a backlog of pending reporter audit events, then
`probity worker` (flush and checkpoint every half second) killed with -9 at random moments while
more events arrive. Afterwards one clean `probity worker --once` drains the rest; every event must
be in the log exactly once, the exported log must verify, and the backlog must have shrunk while
the kills went on.
"""

from __future__ import annotations

import random
import sqlite3
import time
import uuid
from collections import Counter
from datetime import date
from pathlib import Path
from typing import Any

from sqlalchemy import func, select, text

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


def writing(inst: Instance) -> bool:
    """Whether some other connection has a write transaction open right now (the worker's
    flush or checkpoint): SQLite refuses us its write lock; PostgreSQL lists a busy backend."""
    path = inst.sqlite_path()
    if path is not None:
        probe = sqlite3.connect(path, timeout=0, isolation_level=None)
        try:
            probe.execute("BEGIN IMMEDIATE")
            probe.execute("ROLLBACK")
            return False
        except sqlite3.OperationalError:
            return True
        finally:
            probe.close()
    with inst.engine.connect() as conn:
        return bool(conn.execute(_BUSY).scalar_one())


_BUSY = text(
    "SELECT count(*) > 0 FROM pg_stat_activity WHERE datname = current_database() "
    "AND pid <> pg_backend_pid() AND xact_start IS NOT NULL AND state <> 'idle'"
)


def _kill_in_write(inst: Instance, rng: random.Random) -> bool:
    """Start the worker and kill -9 it a random moment into its first write transaction (or
    after 10 s if none is seen); returns whether the kill landed while it was writing."""
    proc = inst.start(["worker"], "worker.log", **FAST)
    try:
        began = time.monotonic()
        while time.monotonic() - began < 10 and not writing(inst):
            time.sleep(0.01)
        time.sleep(rng.uniform(0.0, 0.5))  # early, late or just after the flush
        return writing(inst)
    finally:
        kill_group(proc)


def _kill_rounds(
    inst: Instance, rounds: int, refill: int, rng: random.Random
) -> tuple[list[dict[str, Any]], set[uuid.UUID]]:
    """Refill, start, kill -9 mid-write; returns each round's backlog and the ids added."""
    seen: list[dict[str, Any]] = []
    added: set[uuid.UUID] = set()
    for _ in range(rounds):
        added |= add_backlog(inst, refill)  # each round has a flush to interrupt
        before = pending_count(inst)
        in_write = _kill_in_write(inst, rng)
        seen.append({"before": before, "after": pending_count(inst), "killed_in_write": in_write})
    return seen, added


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
    refill = max(1, backlog // 4)
    expected = add_backlog(inst, backlog - refill)
    seen, added = _kill_rounds(inst, rounds, refill, rng)
    expected |= added
    began = time.monotonic()
    drained = inst.run(["worker", "--once"])
    drain_s = time.monotonic() - began
    return {
        "rounds": rounds,
        "backlog_start": backlog,
        "rounds_killed_in_write": sum(1 for r in seen if r["killed_in_write"]),
        "backlog_per_round": [f"{r['before']}->{r['after']}" for r in seen],
        # Progress despite the kills: some round ended with a smaller backlog than it began.
        "backlog_shrank": any(r["after"] < r["before"] for r in seen),
        "final_drain_ok": drained.returncode == 0,
        "final_drain_s": round(drain_s, 2),
        **_counts(inst, expected),
        **_verify_log(inst),
        "integrity_check": integrity_check(inst),
    }
