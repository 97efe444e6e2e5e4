"""Run the durability harness and print one JSON summary on stdout (progress on stderr).

Usage: python -m bench.durability [--short] [--backend sqlite|postgresql|both]
       [--pg-url URL] [--only kill9,uploads,...] [--no-fail]
PostgreSQL: --pg-url or PROBITY_TEST_DATABASE_URL; scratch databases are made beside it on the
same server and dropped. Exit 1 when a target is missed (unless --no-fail), 2 on bad usage.
"""

from __future__ import annotations

import argparse
import json
import os
import signal
import sys
import tempfile
import time
from collections.abc import Callable
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from bench.durability.instance import instance
from bench.durability.scenarios.disk import disk_full
from bench.durability.scenarios.kill9 import kill9
from bench.durability.scenarios.postgres import pg_faults, pg_stall
from bench.durability.scenarios.uploads import uploads
from bench.durability.scenarios.wal import wal_flood
from bench.durability.scenarios.worker import worker_kills
from bench.durability.targets import evaluate

__all__ = ["PROFILES", "SCENARIOS", "main", "run", "summary"]

# Parameters per scenario: the short profile is what .ci/run runs (a few minutes for both).
PROFILES: dict[str, dict[str, dict[str, Any]]] = {
    "short": {
        "kill9": {"rounds": 3, "clients": 4},
        "worker_kills": {"rounds": 3, "backlog": 3000},
        "pg_faults": {"seconds": 4.0},
        "pg_stall": {"wait": 10.0},
        "disk_full": {"size_mib": 32},
        "uploads": {"reporters": 8, "each": 4, "size": 2 << 20, "limit_s": 60.0},
        "wal_flood": {"seconds": 8.0, "clients": 6},
    },
    "full": {
        "kill9": {"rounds": 10, "clients": 6},
        "worker_kills": {"rounds": 8, "backlog": 20000},
        "pg_faults": {"seconds": 15.0},
        "pg_stall": {"wait": 30.0},
        "disk_full": {"size_mib": 48},
        "uploads": {"reporters": 8, "each": 4, "size": 2 << 20, "limit_s": 120.0},
        "wal_flood": {"seconds": 30.0, "clients": 8},
    },
}
SCENARIOS: dict[str, list[str]] = {
    "sqlite": ["kill9", "worker_kills", "disk_full", "uploads", "wal_flood"],
    "postgresql": ["kill9", "worker_kills", "pg_faults", "pg_stall", "uploads"],
}


def _call(name: str, backend: str, root: Path, pg_url: str | None, params: dict[str, Any]) -> Any:
    if name == "disk_full":
        return disk_full(root, **params)
    runs: dict[str, Callable[..., dict[str, Any]]] = {
        "kill9": kill9,
        "worker_kills": worker_kills,
        "pg_faults": pg_faults,
        "pg_stall": pg_stall,
        "uploads": uploads,
        "wal_flood": wal_flood,
    }
    with instance(backend, root, pg_url) as inst:
        return runs[name](inst, **params)


def run_scenario(
    name: str, backend: str, root: Path, pg_url: str | None, params: dict[str, Any]
) -> dict[str, Any]:
    """One scenario on a fresh instance; an exception becomes {"error": ...}."""
    began = time.monotonic()
    sys.stderr.write(f"durability: {backend}.{name} ...\n")
    try:
        result: dict[str, Any] = _call(name, backend, root, pg_url, params)
    except Exception as exc:  # the summary must still be printed, with the error named
        result = {"error": f"{type(exc).__name__}: {exc}"[:500]}
    result["scenario_s"] = round(time.monotonic() - began, 1)
    sys.stderr.write(f"durability: {backend}.{name} done in {result['scenario_s']} s\n")
    return result


def run(
    backends: list[str], profile: str, pg_url: str | None, only: set[str] | None
) -> dict[str, dict[str, Any]]:
    results: dict[str, dict[str, Any]] = {}
    with tempfile.TemporaryDirectory(prefix="probity-durability-") as tmp:
        for backend in backends:
            results[backend] = {}
            for name in SCENARIOS[backend]:
                if only is None or name in only:
                    root = Path(tmp) / backend / name
                    params = PROFILES[profile][name]
                    results[backend][name] = run_scenario(name, backend, root, pg_url, params)
    return results


def summary(results: dict[str, dict[str, Any]], profile: str, seconds: float) -> dict[str, Any]:
    met = evaluate(results)
    return {
        "harness": "durability",
        "profile": profile,
        "finished_at": datetime.now(UTC).isoformat(timespec="seconds"),
        "seconds": round(seconds, 1),
        "machine": {"cores": os.cpu_count(), "loadavg_1m": round(os.getloadavg()[0], 2)},
        "results": results,
        "targets_met": met,
        "missed": sorted(
            f"{s}: {t}" for s, checks in met.items() for t, ok in checks.items() if not ok
        ),
        "all_targets_met": all(all(c.values()) for c in met.values()),
    }


def _arguments(argv: list[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(prog="python -m bench.durability", description=__doc__)
    parser.add_argument("--short", action="store_true", help="the CI run: fewer rounds, shorter")
    parser.add_argument("--backend", choices=["sqlite", "postgresql", "both"], default="both")
    parser.add_argument("--pg-url", default=os.environ.get("PROBITY_TEST_DATABASE_URL"))
    parser.add_argument("--only", help="comma-separated scenarios, e.g. kill9,uploads")
    parser.add_argument("--no-fail", action="store_true", help="exit 0 even if targets missed")
    return parser.parse_args(argv)


def _terminate(_signum: int, _frame: object) -> None:
    raise KeyboardInterrupt  # so every finally (processes, mounts, databases) runs


def main(argv: list[str] | None = None) -> int:
    args = _arguments(argv)
    backends = ["sqlite", "postgresql"] if args.backend == "both" else [args.backend]
    if "postgresql" in backends and not args.pg_url:
        sys.stderr.write("durability: PostgreSQL needs --pg-url or PROBITY_TEST_DATABASE_URL\n")
        return 2
    only = set(args.only.split(",")) if args.only else None
    signal.signal(signal.SIGTERM, _terminate)
    profile = "short" if args.short else "full"
    began = time.monotonic()
    report = summary(run(backends, profile, args.pg_url, only), profile, time.monotonic() - began)
    json.dump(report, sys.stdout, indent=2)
    sys.stdout.write("\n")
    checks = [ok for targets in report["targets_met"].values() for ok in targets.values()]
    # The plain closing line CI reads: one per target.
    sys.stderr.write(f"durability: {sum(checks)} passed, {len(checks) - sum(checks)} failed\n")
    return 0 if report["all_targets_met"] or args.no_fail else 1


if __name__ == "__main__":
    sys.exit(main())
