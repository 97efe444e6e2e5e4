"""Clients that keep submitting while faults happen. A submission without a final answer (no
answer, 408, 429, 5xx) is sent again with the same key and the same bytes, as a careful API client
would, until it is stored or the deadline passes.
"""

from __future__ import annotations

import statistics
import threading
import time
from collections import Counter
from collections.abc import Callable
from typing import Any

from bench.durability.client import Answer, Submission, submit

__all__ = ["Load", "status_label"]

RETRY = {0, 408, 429}


def status_label(answer: Answer) -> str:
    return str(answer.status) if answer.status else f"none:{answer.error}"


class Load:
    """What every client saw: answers by status, receipts by key, time from a submission's
    first attempt to its 201."""

    def __init__(self, port: int, *, timeout: float = 60.0, pause: float = 0.2) -> None:
        self.port, self.timeout, self.pause = port, timeout, pause
        self.statuses: Counter[str] = Counter()
        self.receipts: dict[str, str] = {}
        self.sent: dict[str, Submission] = {}
        self.stored_after: list[float] = []
        self.gave_up: set[str] = set()
        self.refused: Counter[str] = Counter()  # final non-201 answers
        self._lock = threading.Lock()

    def send_until_stored(self, sub: Submission, deadline: float) -> None:
        with self._lock:
            self.sent[sub.key] = sub
        first = time.monotonic()
        while time.monotonic() < deadline:
            answer = submit(self.port, sub, timeout=self.timeout)
            with self._lock:
                self.statuses[status_label(answer)] += 1
            if answer.status == 201:
                with self._lock:
                    self.receipts[sub.key] = str(answer.json()["receipt"])
                    self.stored_after.append(time.monotonic() - first)
                return
            if answer.status not in RETRY and answer.status < 500:
                with self._lock:
                    self.refused[str(answer.status)] += 1
                return
            time.sleep(self.pause)
        with self._lock:
            self.gave_up.add(sub.key)

    def run(self, clients: int, source: Callable[[], Submission | None], deadline: float) -> None:
        """`clients` threads take submissions from `source` (thread-safe) until it gives None."""

        def client() -> None:
            while time.monotonic() < deadline:
                sub = source()
                if sub is None:
                    return
                self.send_until_stored(sub, deadline)

        threads = [threading.Thread(target=client, daemon=True) for _ in range(clients)]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join()

    def start(
        self, clients: int, source: Callable[[], Submission | None], deadline: float
    ) -> threading.Thread:
        """`run` in the background; join the returned thread."""
        thread = threading.Thread(target=self.run, args=(clients, source, deadline), daemon=True)
        thread.start()
        return thread

    def summary(self) -> dict[str, Any]:
        return {
            "submissions": len(self.sent),
            "stored_acknowledged": len(self.receipts),
            "gave_up": len(self.gave_up),
            "refused": dict(self.refused),
            "answers": dict(sorted(self.statuses.items())),
            "answers_500": self.statuses.get("500", 0),
            "stored_after_s": {
                "p50": round(statistics.median(self.stored_after), 3) if self.stored_after else 0,
                "max": round(max(self.stored_after), 3) if self.stored_after else 0,
            },
        }


def from_list(subs: list[Submission]) -> Callable[[], Submission | None]:
    """A thread-safe source handing out `subs` once each."""
    lock = threading.Lock()
    pending = list(reversed(subs))

    def take() -> Submission | None:
        with lock:
            return pending.pop() if pending else None

    return take


def until(stop: threading.Event, make: Callable[[], Submission]) -> Callable[[], Submission | None]:
    """A source making new submissions until `stop` is set."""
    return lambda: None if stop.is_set() else make()
