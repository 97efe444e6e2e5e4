"""The targets (issue 11) as pass/fail rules over each scenario's result.

Each rule reads one scenario's dict and returns named booleans; a scenario that raised or was
skipped says so instead (a skip is not a failure; an error is).
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

__all__ = ["RULES", "evaluate"]

Result = dict[str, Any]
UPLOAD_MAX_S = 30.0
WAL_MAX_MIB = 64.0
STALL_ANSWER_S = 5.0


def _stored(r: Result) -> dict[str, bool]:
    """What every storing scenario must show: nothing lost, twice, half stored, or a 500."""
    checks = {
        "0 lost": r.get("lost") == 0,
        "0 duplicated": r.get("duplicated") == 0,
        "0 answers of 500": r.get("answers_500") == 0,
        "0 half-stored blobs": r.get("half_stored_blobs") == 0,
        "0 given up": r.get("gave_up", 0) == 0,
    }
    if "unreadable" in r:
        checks["0 unreadable or altered tips"] = r["unreadable"] == 0 and r["mismatched"] == 0
    if "verify_error" in r:
        checks["staff could open the stored tips"] = False
    if r.get("integrity_check") is not None:
        checks["integrity_check ok"] = r["integrity_check"] == "ok"
    return checks


def _kill9(r: Result) -> dict[str, bool]:
    return _stored(r)


def _worker(r: Result) -> dict[str, bool]:
    checks = {
        "0 lost": r["lost"] == 0,
        "0 duplicated": r["duplicated"] == 0,
        "backlog shrank under kills": bool(r["backlog_shrank"]),
        "drained": r["final_drain_ok"] and r["still_pending"] == 0,
        "log verifies": bool(r["verify_ok"]),
    }
    if r.get("integrity_check") is not None:
        checks["integrity_check ok"] = r["integrity_check"] == "ok"
    return checks


def _pg_faults(r: Result) -> dict[str, bool]:
    checks = _stored(r)
    for phase in ("terminated", "refused"):
        checks[f"{phase}: recovered"] = r[phase]["recovered_after_s"] is not None
    return checks


def _answered_503(entry: Any) -> bool:
    return (
        isinstance(entry, dict)
        and entry.get("status") == "503"
        and entry.get("seconds", 1e9) <= STALL_ANSWER_S
    )


def _stall(r: Result) -> dict[str, bool]:
    return {
        f"submission answered 503 within {STALL_ANSWER_S:g} s": _answered_503(r.get("submit")),
        f"/readyz answered 503 within {STALL_ANSWER_S:g} s": _answered_503(r.get("readyz")),
        "recovered after the stall": r.get("recovered_after_s") is not None,
    }


def _disk(r: Result) -> dict[str, bool]:
    full = r["while_full"]
    statuses = set(full["answers"])
    return {
        "507 while full": statuses == {"507"},
        "/readyz not ready while full": full["readyz"] == "503",
        "recovered without restart": r["recovered_after_s"] is not None and r["same_process"],
        "0 lost": r["lost"] == 0,
        "integrity_check ok": r["integrity_check"] == "ok",
    }


def _uploads(r: Result) -> dict[str, bool]:
    checks = _stored(r)
    every = r["reporters"] * r["uploads_each"]
    checks["every upload stored"] = r["stored_acknowledged"] == every == r["tips_stored"]
    checks[f"max <= {UPLOAD_MAX_S:g} s"] = r["stored_after_s"]["max"] <= UPLOAD_MAX_S
    return checks


def _wal(r: Result) -> dict[str, bool]:
    checks = _stored(r)
    checks[f"WAL <= {WAL_MAX_MIB:g} MiB"] = r["wal_max_mib"] <= WAL_MAX_MIB
    return checks


RULES: dict[str, Callable[[Result], dict[str, bool]]] = {
    "kill9": _kill9,
    "worker_kills": _worker,
    "pg_faults": _pg_faults,
    "pg_stall": _stall,
    "disk_full": _disk,
    "uploads": _uploads,
    "wal_flood": _wal,
}


def evaluate(results: dict[str, dict[str, Result]]) -> dict[str, dict[str, bool]]:
    """{"sqlite.kill9": {"0 lost": True, ...}, ...}; skipped scenarios are left out."""
    met: dict[str, dict[str, bool]] = {}
    for backend, scenarios in results.items():
        for name, result in scenarios.items():
            label = f"{backend}.{name}"
            if "error" in result:
                met[label] = {"ran without error": False}
            elif "skipped" not in result:
                try:
                    met[label] = RULES[name](result)
                except (KeyError, TypeError) as exc:
                    met[label] = {f"result readable ({type(exc).__name__})": False}
    return met
