"""PostgreSQL faults under load, the service talking to its database through `FaultProxy`:
backends terminated (`pg_terminate_backend` in a loop), connections refused (the proxy stops
listening), and a silent stall (the proxy stops forwarding without closing anything). Answers
are counted by status (a 500 is a failure), and the time to recover after each fault ends.
"""

from __future__ import annotations

import threading
import time
from collections import Counter
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import Any

from sqlalchemy import create_engine, text
from sqlalchemy.engine import make_url

from bench.durability.checks import tip_ids, verify_outcome
from bench.durability.client import Answer, json_submission, request, submit
from bench.durability.instance import Instance, Proc
from bench.durability.load import Load, status_label, until
from bench.durability.proxy import FaultProxy
from service.db import normalise_url

__all__ = ["pg_faults", "pg_stall", "proxied_server"]

_TERMINATE = text(
    "SELECT count(pg_terminate_backend(pid)) FROM pg_stat_activity "
    "WHERE datname = :db AND pid <> pg_backend_pid()"
)


@contextmanager
def proxied_server(inst: Instance) -> Iterator[tuple[Proc, FaultProxy]]:
    """`probity serve` whose database connections all pass through a `FaultProxy`."""
    url = make_url(normalise_url(inst.database_url))
    proxy = FaultProxy(url.host or "127.0.0.1", url.port or 5432)
    try:
        port = proxy.start()
        via = url.set(host="127.0.0.1", port=port).render_as_string(hide_password=False)
        server = Proc(inst, PROBITY_DATABASE_URL=via)
        try:
            server.start()
            yield server, proxy
        finally:
            server.stop()
    finally:
        proxy.close()


def _recovery(load: Load, limit: float) -> float | None:
    """Seconds until a new submission is stored again (None if not within `limit`); it goes
    through `load`, so its tip is checked with the others."""
    sub, began = json_submission(), time.monotonic()
    load.send_until_stored(sub, began + limit)
    return round(time.monotonic() - began, 2) if sub.key in load.receipts else None


def _phase(
    server: Proc, load: Load, fault: Callable[[], None], end: Callable[[], None], seconds: float
) -> dict[str, Any]:
    """Load and /readyz polls while `fault` holds for `seconds`, then `end`; then recovery."""
    stop = threading.Event()
    traffic = load.start(4, until(stop, json_submission), time.monotonic() + seconds + 120)
    ready: Counter[str] = Counter()
    began = time.monotonic()
    fault()
    try:
        while time.monotonic() - began < seconds:
            ready[status_label(request(server.port, "GET", "/readyz", timeout=10))] += 1
            time.sleep(0.5)
    finally:
        end()
    recovery = _recovery(load, 60)
    stop.set()
    traffic.join()
    return {"seconds": seconds, "readyz": dict(ready), "recovered_after_s": recovery}


def _terminator(inst: Instance, stop: threading.Event, killed: list[int]) -> None:
    """Terminate every backend of the instance's database every 0.3 s (directly, not proxied)."""
    database = make_url(normalise_url(inst.database_url)).database
    engine = create_engine(normalise_url(inst.database_url), isolation_level="AUTOCOMMIT")
    try:
        with engine.connect() as conn:
            while not stop.wait(0.3):
                killed[0] += int(conn.execute(_TERMINATE, {"db": database}).scalar_one())
    finally:
        engine.dispose()


def pg_faults(inst: Instance, *, seconds: float) -> dict[str, Any]:
    before = tip_ids(inst.engine)
    results: dict[str, Any] = {}
    with proxied_server(inst) as (server, proxy):
        stop, killed = threading.Event(), [0]
        thread = threading.Thread(target=_terminator, args=(inst, stop, killed), daemon=True)
        terminate = Load(server.port, timeout=30)
        results["terminated"] = _phase(server, terminate, thread.start, stop.set, seconds)
        thread.join(timeout=10)
        results["terminated"]["backends_terminated"] = killed[0]
        refuse = Load(server.port, timeout=30)
        results["refused"] = _phase(server, refuse, proxy.refuse, proxy.resume, seconds)
        for name, load in (("terminated", terminate), ("refused", refuse)):
            results[name].update(load.summary())
        merged = _merge(terminate, refuse)
        results.update(verify_outcome(server.port, inst, before, merged))
    results["answers_500"] = terminate.statuses["500"] + refuse.statuses["500"]
    return results


def _merge(*loads: Load) -> Load:
    merged = Load(0)
    for load in loads:
        merged.receipts.update(load.receipts)
        merged.sent.update(load.sent)
    return merged


def _timed(fn: Callable[[], Answer], into: dict[str, Any], name: str) -> threading.Thread:
    def run() -> None:
        answer = fn()
        into[name] = {"status": status_label(answer), "seconds": round(answer.seconds, 2)}

    thread = threading.Thread(target=run, daemon=True)
    thread.start()
    return thread


def pg_stall(inst: Instance, *, wait: float) -> dict[str, Any]:
    """While the proxy forwards nothing: how long a submission and /readyz take to be answered
    (clients give up after `wait` seconds), and whether service comes back once it flows."""
    results: dict[str, Any] = {"client_timeout_s": wait}
    with proxied_server(inst) as (server, proxy):
        port = server.port
        if submit(port, json_submission()).status != 201:  # the pool holds live connections
            results["warm_up_failed"] = True
        proxy.stall()
        try:
            threads = [
                _timed(lambda: submit(port, json_submission(), timeout=wait), results, "submit"),
                _timed(lambda: request(port, "GET", "/readyz", timeout=wait), results, "readyz"),
                _timed(lambda: request(port, "GET", "/healthz", timeout=wait), results, "healthz"),
            ]
            for thread in threads:
                thread.join(timeout=wait + 5)
        finally:
            proxy.resume()
        results["recovered_after_s"] = _recovery(Load(port, timeout=30), 60)
        ready = request(port, "GET", "/readyz", timeout=30)
        results["readyz_after"] = status_label(ready)
    return results
