"""SQLite's WAL under a flood of JSON tips: a live `probity serve` with a 1 MiB soft limit.

The WAL stays near its limits while tips keep coming; while a reader pins an old snapshot (so no
checkpoint can reset the WAL), intake answers 503 with Retry-After instead of growing it; and
every tip that got a receipt can be read back with it afterwards.
"""

from __future__ import annotations

import http.client
import json
import sqlite3
import threading
import time
from collections import Counter
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from urllib.parse import urlsplit

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import Engine, func, select

from routes.app import create_app
from service.config import Settings
from service.db import make_session_factory
from service.tips.models import Tip
from tests.factories import seed_border, tip_json
from tests.live import live_server, server_env

pytestmark = pytest.mark.parametrize("database_url", ["sqlite"], indirect=True)

MIB = 1 << 20
SOFT_MIB, HARD_MIB = 1, 2
# What may land beyond the hard limit: the submissions already past the check when it was
# crossed (one per client here), plus what arrives between two looks at the WAL's size.
ALLOWANCE = 2 * MIB
FLOOD_SECONDS = 2.0
CLIENTS = 6


@pytest.fixture
def seeded(engine: Engine, settings: Settings) -> Settings:
    seed_border(engine, settings)
    return settings


def _env(settings: Settings, **extra: str) -> dict[str, str]:
    return server_env(
        settings,
        PROBITY_WAL__SOFT_LIMIT_MIB=str(SOFT_MIB),
        PROBITY_WAL__HARD_LIMIT_MIB=str(HARD_MIB),
        PROBITY_WAL__CHECK_SECONDS="0.02",
        PROBITY_WAL__CHECKPOINT_WAIT_MS="50",
        **extra,
    )


def _connect(base: str) -> http.client.HTTPConnection:
    parts = urlsplit(base)
    return http.client.HTTPConnection(parts.hostname or "", parts.port, timeout=60)


class Flood:
    """`CLIENTS` keep-alive connections posting tips for `FLOOD_SECONDS`; the WAL's largest size."""

    def __init__(self, base: str, wal: Path) -> None:
        self.base, self.wal = base, wal
        self.statuses: Counter[int] = Counter()
        self.receipts: list[str] = []
        self.unavailable_without_retry_after = 0
        self.max_wal = 0
        self.lock = threading.Lock()
        self.deadline = time.monotonic() + FLOOD_SECONDS

    def client(self) -> None:
        conn = _connect(self.base)
        body = json.dumps(tip_json())
        try:
            while time.monotonic() < self.deadline:
                conn.request(
                    "POST", "/api/v1/tips", body=body, headers={"content-type": "application/json"}
                )
                response = conn.getresponse()
                self.count(response, response.read())
        finally:
            conn.close()

    def count(self, response: http.client.HTTPResponse, payload: bytes) -> None:
        with self.lock:
            self.statuses[response.status] += 1
            if response.status == 201:
                self.receipts.append(json.loads(payload)["receipt"])
            if response.status == 503 and not response.getheader("retry-after"):
                self.unavailable_without_retry_after += 1

    def sample(self) -> None:
        while time.monotonic() < self.deadline + 0.5:
            if self.wal.exists():
                self.max_wal = max(self.max_wal, self.wal.stat().st_size)
            time.sleep(0.002)

    def run(self) -> Flood:
        threads = [threading.Thread(target=self.client) for _ in range(CLIENTS)]
        threads.append(threading.Thread(target=self.sample))
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join()
        return self


def _post_tip(base: str) -> tuple[int, bytes]:
    conn = _connect(base)
    try:
        conn.request(
            "POST",
            "/api/v1/tips",
            body=json.dumps(tip_json()),
            headers={"content-type": "application/json"},
        )
        response = conn.getresponse()
        return response.status, response.read()
    finally:
        conn.close()


def _wal(settings: Settings) -> Path:
    return Path(settings.effective_database_url.removeprefix("sqlite:///") + "-wal")


def _tip_count(engine: Engine) -> int:
    with make_session_factory(engine)() as session:
        return session.scalar(select(func.count()).select_from(Tip)) or 0


def _read_back(base: str, receipts: list[str]) -> int:
    """Sign in with each receipt and open the tip; how many opened."""
    conn = _connect(base)
    opened = 0
    try:
        for receipt in receipts:
            conn.request(
                "POST",
                "/api/v1/reporter/session",
                body=json.dumps({"receipt": receipt}),
                headers={"content-type": "application/json"},
            )
            token = json.loads(conn.getresponse().read())["token"]
            bearer = {"authorization": f"Bearer {token}"}
            conn.request("GET", "/api/v1/reporter/tip", headers=bearer)
            response = conn.getresponse()
            opened += response.status == 200 and json.loads(response.read())["status"] == "received"
    finally:
        conn.close()
    return opened


@contextmanager
def _old_snapshot(settings: Settings) -> Iterator[None]:
    """A reader in an open transaction: no checkpoint can reset the WAL while it lasts."""
    reader = sqlite3.connect(settings.effective_database_url.removeprefix("sqlite:///"))
    try:
        reader.execute("BEGIN")
        reader.execute("SELECT count(*) FROM tips").fetchone()
        yield
    finally:
        reader.rollback()
        reader.close()


def test_a_flood_of_tips_keeps_the_wal_near_its_limit_and_loses_nothing(
    seeded: Settings, engine: Engine, tmp_path: Path
) -> None:
    with live_server(_env(seeded), tmp_path / "server.log") as base:
        flood = Flood(base, _wal(seeded)).run()
        assert set(flood.statuses) <= {201, 503}, flood.statuses
        assert flood.unavailable_without_retry_after == 0
        assert flood.statuses[201] >= 50, flood.statuses  # a sustained burst, not a trickle
        assert flood.max_wal <= HARD_MIB * MIB + ALLOWANCE, flood.max_wal / MIB
        assert _read_back(base, flood.receipts) == len(flood.receipts)
    assert _tip_count(engine) == len(flood.receipts)


def test_a_wal_nobody_can_reset_turns_intake_away_with_503_and_retry_after(
    seeded: Settings, engine: Engine, tmp_path: Path
) -> None:
    env = _env(seeded, PROBITY_WAL__INTAKE_WAIT_SECONDS="0.2")
    with live_server(env, tmp_path / "server.log") as base:
        with _old_snapshot(seeded):
            flood = Flood(base, _wal(seeded)).run()
        assert flood.statuses[503] > 0, flood.statuses
        assert set(flood.statuses) <= {201, 503}, flood.statuses
        assert flood.unavailable_without_retry_after == 0
        assert flood.max_wal <= HARD_MIB * MIB + ALLOWANCE, flood.max_wal / MIB
        # The reader is gone: the WAL is reset and submissions are taken again.
        for _ in range(100):
            status, payload = _post_tip(base)
            if status == 201:
                flood.receipts.append(json.loads(payload)["receipt"])
                break
            time.sleep(0.1)
        assert status == 201
        assert _read_back(base, flood.receipts) == len(flood.receipts)
    # Turned away means stored nothing: exactly the tips that got a receipt are there.
    assert _tip_count(engine) == len(flood.receipts)


# Reporter write paths (intake, evidence, messages, contest, receipt sign-in): every anonymous
# request that may write waits for WAL room.
GATED = [
    ("/api/v1/tips", {"json": tip_json()}),
    ("/report", {"files": {"tip": (None, "x")}}),
    ("/status/messages", {"files": {"body": (None, "x")}}),
    ("/api/v1/reporter/attachments", {"files": {"files": ("a.txt", b"x")}}),
    ("/api/v1/reporter/messages", {"json": {"body": "x"}}),
    ("/api/v1/reporter/contest", {"json": {}}),
    ("/api/v1/reporter/session", {"json": {"receipt": "x"}}),
]


def test_every_gated_write_path_waits_then_turns_away_while_the_wal_is_over_its_limit(
    seeded: Settings, engine: Engine
) -> None:
    wal = {
        "soft_limit_mib": SOFT_MIB,
        "hard_limit_mib": HARD_MIB,
        "check_seconds": 0.02,
        "intake_wait_seconds": 0.1,
    }
    settings = Settings.model_validate({**seeded.model_dump(), "wal": wal})
    with TestClient(create_app(settings)) as client:
        with _old_snapshot(seeded):
            accepted = 0
            while _wal(seeded).stat().st_size <= HARD_MIB * MIB:
                assert client.post("/api/v1/tips", json=tip_json()).status_code == 201
                accepted += 1
                assert accepted < 200, "the WAL never grew"
            for path, body in GATED:
                refused = client.post(path, **body)  # type: ignore[arg-type]
                assert refused.status_code == 503, (path, refused.status_code)
                assert refused.headers["retry-after"] == "2"
            # Staff are not held back by a stranger's flood: a sign-in is answered at once.
            started = time.monotonic()
            staff = client.post("/staff/login", data={"username": "x", "password": "x"})
            assert staff.status_code != 503
            assert time.monotonic() - started < 1.0
        # The reader is gone: the next check truncates the WAL and intake resumes.
        deadline = time.monotonic() + 5
        while client.post("/api/v1/tips", json=tip_json()).status_code != 201:
            assert time.monotonic() < deadline
        assert _wal(seeded).stat().st_size <= HARD_MIB * MIB
    assert _tip_count(engine) == accepted + 1
