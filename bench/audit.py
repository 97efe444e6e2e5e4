"""Audit-log benchmark: prints JSON.

For each backend and log size N, on a fresh database:
- batch append rate while building the log to N entries (`record_many`, 5000 per transaction);
- single append rate: one `record` per committed transaction (what a request does), serially
  and from 4 threads at once;
- inclusion-proof time from storage at tree size N (p50/p95 over random indices);
- the signer's check before a signature (first, after 1000 appends, no growth) against a full
  recompute of the root from every entry;
- offline verification: `probity audit export` (export_log) then `verify_export` over the file.

Usage: .venv/bin/python bench/audit.py [--sizes 10000,100000] [--backends sqlite,postgresql]
PostgreSQL: PROBITY_BENCH_PG (default postgresql://postgres@127.0.0.1:5432); a scratch database
is created and dropped.
Targets (issue): >= 2,000 appends/s; inclusion proof <= 5 ms at 10^6; verify 10^6 <= 15 s.
"""

from __future__ import annotations

import argparse
import json
import os
import random
import statistics
import sys
import tempfile
import threading
import time
import uuid
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path

# Run as a script, bench/ comes first on sys.path, where bench/queue.py would shadow the standard
# library's queue (which psycopg imports).
sys.path[:] = [p for p in sys.path if Path(p or ".").resolve() != Path(__file__).resolve().parent]

from sqlalchemy import Engine, text  # noqa: E402

from bench.scratch import scratch_database  # noqa: E402
from service.audit import proofs  # noqa: E402
from service.audit.checkpoints import sign_new_checkpoint  # noqa: E402
from service.audit.export import export_log  # noqa: E402
from service.audit.log import AuditEvent, log_size, record, record_many  # noqa: E402
from service.audit.verify import verify_export  # noqa: E402
from service.audit.view import _root_from_entries  # noqa: E402
from service.config import Settings  # noqa: E402
from service.db import make_engine, make_session_factory, session_scope  # noqa: E402
from service.instance.keys import create_instance_secrets  # noqa: E402
from service.migrations import upgrade  # noqa: E402

PG_BASE = os.environ.get("PROBITY_BENCH_PG", "postgresql://postgres@127.0.0.1:5432")
BATCH = 5000


@contextmanager
def database(backend: str, tmp: Path) -> Iterator[str]:
    if backend == "sqlite":
        yield f"sqlite:///{tmp / 'bench.db'}"
        return
    with scratch_database(PG_BASE, "probity_bench") as url:
        yield url


def build(engine: Engine, size: int) -> float:
    factory = make_session_factory(engine)
    start = time.perf_counter()
    for done in range(0, size, BATCH):
        count = min(BATCH, size - done)
        events = [AuditEvent(uuid.uuid4(), "tip.viewed", uuid.uuid4()) for _ in range(count)]
        with session_scope(factory) as session:
            record_many(session, events)
    return size / (time.perf_counter() - start)


def commit_baseline(engine: Engine, count: int) -> float:
    """One-row insert transactions per second: the ceiling any per-request append shares."""
    with engine.begin() as conn:
        conn.execute(text("CREATE TABLE bench_baseline (x integer)"))
    start = time.perf_counter()
    for _ in range(count):
        with engine.begin() as conn:
            conn.execute(text("INSERT INTO bench_baseline VALUES (1)"))
    rate = count / (time.perf_counter() - start)
    with engine.begin() as conn:
        conn.execute(text("DROP TABLE bench_baseline"))
    return rate


def singles(engine: Engine, count: int, threads: int) -> float:
    factory = make_session_factory(engine)

    def work() -> None:
        for _ in range(count // threads):
            with session_scope(factory) as session:
                record(session, actor=uuid.uuid4(), action="tip.viewed", tip_id=uuid.uuid4())

    pool = [threading.Thread(target=work) for _ in range(threads)]
    start = time.perf_counter()
    for t in pool:
        t.start()
    for t in pool:
        t.join()
    return (count // threads) * threads / (time.perf_counter() - start)


def proof_times(engine: Engine, samples: int) -> dict[str, float]:
    factory = make_session_factory(engine)
    rng = random.Random(1)
    times = []
    with session_scope(factory) as session:
        size = log_size(session)
        for _ in range(samples):
            index = rng.randrange(size)
            start = time.perf_counter()
            proofs.inclusion(session, index, size)
            times.append((time.perf_counter() - start) * 1000)
    times.sort()
    return {
        "tree_size": size,
        "p50_ms": round(statistics.median(times), 3),
        "p95_ms": round(times[int(len(times) * 0.95) - 1], 3),
    }


def _ms(work: Callable[[], object]) -> float:
    start = time.perf_counter()
    work()
    return round((time.perf_counter() - start) * 1000, 1)


def signer_guard(engine: Engine, settings: Settings) -> dict[str, float]:
    """The signer's pre-signature check (service.audit.guard) against a full recompute."""
    factory = make_session_factory(engine)

    def sign() -> None:
        with session_scope(factory) as session:
            sign_new_checkpoint(session, settings)

    def full() -> None:
        with session_scope(factory) as session:
            _root_from_entries(session, log_size(session))

    first = _ms(sign)  # no checkpoint yet: every leaf recomputed from its entry
    build(engine, 1000)
    after_1000 = _ms(sign)  # verified right edge + 1000 recomputed leaves
    unchanged = _ms(sign)  # nothing new: the check alone
    return {
        "first_signature_ms": first,
        "sign_after_1000_more_ms": after_1000,
        "check_no_growth_ms": unchanged,
        "full_recompute_ms": _ms(full),
    }


def export_and_verify(engine: Engine, settings: Settings, tmp: Path) -> dict[str, float]:
    path = tmp / "export.jsonl"
    start = time.perf_counter()
    with session_scope(make_session_factory(engine)) as session:
        result = export_log(session, settings, path)
    exported = time.perf_counter() - start
    signer_key = (settings.effective_keys_dir / "log.pub").read_text()
    start = time.perf_counter()
    with path.open("rb") as lines:
        report = verify_export(lines, checkpoint=result.checkpoint.read_text(), key=signer_key)
    verified = time.perf_counter() - start
    return {
        "entries": report.size,
        "export_s": round(exported, 2),
        "verify_s": round(verified, 2),
        "total_s": round(exported + verified, 2),
        "file_mb": round(path.stat().st_size / 1e6, 1),
    }


def run(backend: str, size: int, args: argparse.Namespace) -> dict[str, object]:
    with tempfile.TemporaryDirectory() as tmp_name, database(backend, Path(tmp_name)) as url:
        tmp = Path(tmp_name)
        settings = Settings(data_dir=tmp, database_url=url)
        signer = create_instance_secrets(settings.effective_keys_dir, "bench.local/audit")
        (settings.effective_keys_dir / "log.pub").write_text(signer.verifier.encode())
        engine = make_engine(url)
        try:
            upgrade(engine)
            baseline = commit_baseline(engine, args.singles)
            batch_rate = build(engine, size)
            single = singles(engine, args.singles, 1)
            threaded = singles(engine, args.singles, 4)
            return {
                "backend": backend,
                "size": size,
                "commit_baseline_per_s": round(baseline),
                "batch_appends_per_s": round(batch_rate),
                "single_tx_appends_per_s": round(single),
                "single_tx_appends_per_s_4_threads": round(threaded),
                "inclusion_proof": proof_times(engine, args.proofs),
                "signer_guard": signer_guard(engine, settings),
                "export_verify": export_and_verify(engine, settings, tmp),
            }
        finally:
            engine.dispose()


def main() -> None:
    parser = argparse.ArgumentParser(description=(__doc__ or "").splitlines()[0])
    parser.add_argument("--sizes", default="10000,100000", help="comma-separated log sizes")
    parser.add_argument("--backends", default="sqlite,postgresql")
    parser.add_argument("--singles", type=int, default=1000, help="single-append transactions")
    parser.add_argument("--proofs", type=int, default=500, help="inclusion proofs sampled")
    args = parser.parse_args()
    results = []
    for backend in args.backends.split(","):
        for size in args.sizes.split(","):
            results.append(run(backend, int(size), args))
            sys.stderr.write(json.dumps(results[-1]) + "\n")  # partial results as they come
    json.dump(
        {"benchmark": "audit", "cores": os.cpu_count(), "results": results}, sys.stdout, indent=2
    )
    sys.stdout.write("\n")


if __name__ == "__main__":
    main()
