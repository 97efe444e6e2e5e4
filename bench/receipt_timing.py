"""Receipt-login timing benchmark: does a taken lookup id with a wrong secret answer measurably
differently from an unknown one? Prints JSON.

On a fresh instance (SQLite file by default; `--database-url` for PostgreSQL) with `--tips` real
tips, sends `--tries` sign-ins of each kind, interleaved at random: one tip's lookup id with a
random secret, and a random receipt. Lockout rows are cleared between tries (untimed), so neither
kind is ever refused as locked. With `--http`, each try is a whole `POST /api/v1/reporter/session`
through the ASGI app; otherwise the time of `login_with_receipt` itself, in an open transaction
(the commit, the same write for both kinds and the noisiest part, is left out).

Reports the medians (ms) and a two-sided Mann-Whitney U test (normal approximation with tie
correction): a large p-value means the two kinds cannot be told apart by timing.

Usage: .venv/bin/python bench/receipt_timing.py [--tries 500] [--tips 200] [--http]
       [--database-url URL]
"""

from __future__ import annotations

import argparse
import json
import math
import random
import statistics
import sys
import tempfile
import time
from collections.abc import Callable, Iterator
from pathlib import Path

_HERE = Path(__file__).resolve().parent
sys.path[:] = [p for p in sys.path if Path(p or ".").resolve() != _HERE]
sys.path.insert(0, str(_HERE.parent))

from fastapi.testclient import TestClient  # noqa: E402
from sqlalchemy import delete  # noqa: E402
from sqlalchemy.orm import Session, sessionmaker  # noqa: E402

from crypto.receipt import Receipt, new_receipt, parse_receipt  # noqa: E402
from routes.app import create_app  # noqa: E402
from service.agencies.service import add_agency  # noqa: E402
from service.compartments.service import add_compartment  # noqa: E402
from service.config import KdfSettings, Settings  # noqa: E402
from service.db import make_engine, make_session_factory, session_scope, utcnow  # noqa: E402
from service.instance.context import InstanceContext, load_context  # noqa: E402
from service.instance.setup import initialise  # noqa: E402
from service.migrations import upgrade  # noqa: E402
from service.tips.intake import submit_tip  # noqa: E402
from service.tips.models import ReceiptLockout  # noqa: E402
from service.tips.reporter_auth import login_with_receipt  # noqa: E402
from service.tips.schemas import TipSubmission  # noqa: E402

TIP = {
    "agency": "el-paso-pd",
    "allegations": ["bribery"],
    "narrative": "The sergeant at the bridge takes cash to let trucks through at night.",
    "language": "en",
}


def mann_whitney(a: list[float], b: list[float]) -> tuple[float, float]:
    """(U of `a`, two-sided p) by the normal approximation, with the tie correction."""
    ranked = sorted([(v, 0) for v in a] + [(v, 1) for v in b])
    ranks = [0.0] * len(ranked)
    ties = 0.0
    i = 0
    while i < len(ranked):
        j = i
        while j + 1 < len(ranked) and ranked[j + 1][0] == ranked[i][0]:
            j += 1
        for k in range(i, j + 1):
            ranks[k] = (i + j) / 2 + 1
        ties += (j - i + 1) ** 3 - (j - i + 1)
        i = j + 1
    n1, n2 = len(a), len(b)
    u = (
        sum(r for r, (_, group) in zip(ranks, ranked, strict=True) if group == 0)
        - n1 * (n1 + 1) / 2
    )
    n = n1 + n2
    sigma = math.sqrt(n1 * n2 / 12 * ((n + 1) - ties / (n * (n - 1))))
    z = (u - n1 * n2 / 2) / sigma if sigma else 0.0
    return u, math.erfc(abs(z) / math.sqrt(2))


def _instance(data_dir: Path, database_url: str, tips: int) -> tuple[Settings, str]:
    settings = Settings(
        data_dir=data_dir / "var",
        database_url=database_url,
        kdf=KdfSettings(time_cost=1, memory_kib=64, lanes=1, recovery_work_factor=10),
    )
    engine = make_engine(settings.effective_database_url)
    upgrade(engine)
    initialise(
        engine,
        settings,
        admin_username="admin",
        admin_password="correct horse battery",  # noqa: S106
        recovery_file=data_dir / "recovery.age",
        recovery_passphrase="bench recovery",  # noqa: S106
    )
    with session_scope(make_session_factory(engine)) as session:
        add_compartment(session, "us")
        add_agency(
            session,
            slug="el-paso-pd",
            name_en="El Paso PD",
            name_es="Policía de El Paso",
            compartment="us",
            country="US",
        )
    with session_scope(make_session_factory(engine)) as session:
        ctx = load_context(session, settings)
        receipts = [
            submit_tip(session, ctx, TipSubmission.model_validate(TIP)).receipt for _ in range(tips)
        ]
    receipt = random.choice(receipts)
    engine.dispose()
    return settings, receipt


def _tries(
    factory: sessionmaker[Session], real: Receipt, tries: int
) -> Iterator[tuple[str, Receipt]]:
    """`tries` receipts of each kind in random order: "taken" names the real tip's lookup id with a
    wrong secret, "unknown" names no tip. Lockouts are cleared before each, so none interferes."""
    kinds = ["taken"] * tries + ["unknown"] * tries
    random.shuffle(kinds)
    for kind in kinds:
        with session_scope(factory) as session:
            session.execute(delete(ReceiptLockout))
        receipt = (
            Receipt(real.lookup_id, new_receipt().secret) if kind == "taken" else new_receipt()
        )
        yield kind, receipt


def _measure_work(
    factory: sessionmaker[Session], ctx: InstanceContext, real: Receipt, tries: int
) -> dict[str, object]:
    """The sign-in's own work, in an open transaction; the commit (the same lockout write for
    both kinds, and on most disks the noisiest part) is left out of the timing."""
    times: dict[str, list[float]] = {"taken": [], "unknown": []}
    for kind, receipt in _tries(factory, real, tries):
        text = receipt.format()
        with session_scope(factory) as session:
            start = time.perf_counter()
            assert login_with_receipt(session, ctx, text, now=utcnow()).token is None
            times[kind].append((time.perf_counter() - start) * 1000)
    return _summary(times, tries)


def _summary(times: dict[str, list[float]], tries: int) -> dict[str, object]:
    u, p = mann_whitney(times["taken"], times["unknown"])
    return {
        "tries_each": tries,
        "median_ms": {k: round(statistics.median(v), 4) for k, v in times.items()},
        "mann_whitney_u": u,
        "p_value": p,
    }


def _measure(
    settings: Settings, try_once: Callable[[str], None], real: Receipt, tries: int
) -> dict[str, object]:
    engine = make_engine(settings.effective_database_url)
    factory = make_session_factory(engine)
    times: dict[str, list[float]] = {"taken": [], "unknown": []}
    for kind, receipt in _tries(factory, real, tries):
        start = time.perf_counter()
        try_once(receipt.format())
        times[kind].append((time.perf_counter() - start) * 1000)
    engine.dispose()
    return _summary(times, tries)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--tries", type=int, default=500)
    parser.add_argument("--tips", type=int, default=200, help="tips on the instance")
    parser.add_argument("--http", action="store_true")
    parser.add_argument("--database-url", default="")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        settings, receipt = _instance(Path(tmp), args.database_url, args.tips)
        real = parse_receipt(receipt)
        if args.http:
            with TestClient(create_app(settings)) as client:

                def try_once(text: str) -> None:
                    answer = client.post("/api/v1/reporter/session", json={"receipt": text})
                    assert answer.status_code == 401, answer.status_code

                result = _measure(settings, try_once, real, args.tries)
        else:
            engine = make_engine(settings.effective_database_url)
            factory = make_session_factory(engine)
            ctx = load_context(factory(), settings)

            result = _measure_work(factory, ctx, real, args.tries)
    result["mode"] = "http" if args.http else "service"
    result["backend"] = "postgresql" if args.database_url.startswith("postgres") else "sqlite"
    json.dump(result, sys.stdout, indent=2)
    sys.stdout.write("\n")


if __name__ == "__main__":
    main()
