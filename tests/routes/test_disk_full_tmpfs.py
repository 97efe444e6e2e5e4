"""A real full disk: the data directory on a 16 MiB tmpfs (mounting needs root; skipped with a
message otherwise). Every write fails with SQLITE_FULL: 507 with the clear message, /readyz says
why, nothing half-stored; deleting the filler brings the service back without a restart; and a WAL
too large to checkpoint into the space left is checkpointed and truncated by the server itself,
using its reserve file. The simulated full database (runs everywhere) is tests/routes/
test_disk_full.py."""

from __future__ import annotations

import json
import os
import sqlite3
import subprocess
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import Engine, func, select

from routes.app import create_app
from service.blobs.spool import keep_free
from service.config import Settings
from service.db import make_engine
from service.tips.models import Tip
from tests.conftest import CHEAP_KDF
from tests.factories import Border, seed_border, tip_json
from tests.routes.test_disk_full import CSRF, FULL_ES, _assert_full_json, _assert_full_page, _wrong
from tests.staff_util import api_login

DISK_MIB = 16
HOW_TO_ENABLE = (
    "needs a tmpfs mount (root or CAP_SYS_ADMIN): run pytest as root, or under "
    "`unshare --map-root-user --mount`"
)


@pytest.fixture
def disk(tmp_path: Path) -> Iterator[Path]:
    mount = tmp_path / "disk"
    mount.mkdir()
    done = subprocess.run(
        ["mount", "-t", "tmpfs", "-o", f"size={DISK_MIB}m", "tmpfs", str(mount)],
        capture_output=True,
        check=False,
    )
    if done.returncode != 0:
        pytest.skip(f"{HOW_TO_ENABLE} ({done.stderr.decode().strip()})")
    try:
        yield mount
    finally:
        subprocess.run(["umount", "-l", str(mount)], check=False)


def settings_on(disk: Path, *, reserve_mb: int) -> Settings:
    """An instance whose data directory, SQLite database included, is on `disk`."""
    return Settings(
        data_dir=disk / "var",
        database_url="",
        kdf=CHEAP_KDF,
        storage_reserve_mb=reserve_mb,
        storage_ballast_mb=0,
    )


@pytest.fixture
def on_disk(disk: Path) -> Iterator[tuple[Settings, Engine, Border]]:
    settings = settings_on(disk, reserve_mb=1)
    engine = make_engine(settings.effective_database_url)
    try:
        yield settings, engine, seed_border(engine, settings)
    finally:
        engine.dispose()


def _fill(path: Path) -> None:
    """Write zeros until the filesystem is full."""
    with path.open("wb") as sink:
        try:
            while True:
                sink.write(b"\0" * (1 << 16))
                sink.flush()
        except OSError:
            pass
        try:
            sink.close()
        except OSError:
            pass


def _tips(engine: Engine) -> int:
    with engine.connect() as connection:
        return int(connection.scalar(select(func.count()).select_from(Tip)) or 0)


def _until(check: Any, seconds: float = 15.0) -> None:
    deadline = time.monotonic() + seconds
    while not check():
        if time.monotonic() > deadline:
            pytest.fail("not recovered in time")
        time.sleep(0.2)


def test_a_full_disk_is_507_and_freeing_space_recovers_without_restart(
    on_disk: tuple[Settings, Engine, Border], disk: Path
) -> None:
    settings, engine, border = on_disk
    with TestClient(create_app(settings)) as web:
        receipt = web.post("/api/v1/tips", json=tip_json()).json()["receipt"]
        staff = api_login(web, border.reviewer_us)
        tip_id = web.get("/api/v1/queue", headers=staff).json()["tips"][0]["id"]
        csrf = CSRF.search(web.get("/status?lang=es").text)
        assert csrf is not None
        app_engine: Engine = web.app.state.engine  # type: ignore[attr-defined]
        with app_engine.connect() as connection:  # an empty WAL: every write must grow it
            connection.exec_driver_sql("PRAGMA wal_checkpoint(TRUNCATE)")
        _fill(disk / "filler")
        tips = _tips(engine)

        assert "storage" in web.get("/readyz").json()["detail"]
        started = time.monotonic()
        _assert_full_json(web.post("/api/v1/tips", json=tip_json()))
        assert time.monotonic() - started < 2, "a full disk must not wait for a busy timeout"
        _assert_full_json(web.post("/api/v1/reporter/session", json={"receipt": _wrong()}))
        _assert_full_json(web.get(f"/api/v1/tips/{tip_id}", headers=staff))
        form = {"csrf": csrf.group(1), "receipt": receipt}
        _assert_full_page(web.post("/status?lang=es", data=form), FULL_ES)
        ready = web.get("/readyz")
        assert ready.status_code == 503
        assert "storage full" in ready.json()["detail"]
        assert _tips(engine) == tips

        (disk / "filler").unlink()
        _until(lambda: web.get("/readyz").status_code == 200)
        assert web.post("/api/v1/tips", json=tip_json()).status_code == 201
        assert web.post("/api/v1/reporter/session", json={"receipt": receipt}).status_code == 200
        assert web.get(f"/api/v1/tips/{tip_id}", headers=staff).status_code == 200


def _upload(web: TestClient, size: int) -> int:
    files: list[tuple[str, tuple[str | None, bytes, str]]] = [
        ("tip", (None, json.dumps(tip_json()).encode(), "application/json")),
        ("files", ("video.bin", os.urandom(size), "application/octet-stream")),
    ]
    return web.post("/api/v1/tips", files=files).status_code


def test_a_wal_too_large_to_checkpoint_is_truncated_with_the_reserve_file(
    on_disk: tuple[Settings, Engine, Border], disk: Path
) -> None:
    settings, _engine, _border = on_disk
    settings = settings.model_copy(update={"storage_ballast_mb": 4})
    reserve = settings.data_dir / "storage-reserve"
    wal = Path(str(settings.data_dir / "probity.db") + "-wal")
    with TestClient(create_app(settings)) as web:
        _until(reserve.exists, seconds=5)  # the server keeps its reserve file
        # The uploads stand for any writer here: without this their spools would stop at the
        # reserve (tests/routes/test_spool_reserve.py) before the database fills.
        keep_free(settings.data_dir, 0)
        # Something else takes half the disk, so the WAL (bounded in production) stays
        # smaller than the reserve.
        (disk / "other").write_bytes(b"\0" * (8 << 20))
        # A long reader pins the WAL (as a slow download would): the uploads pile up in it
        # until the disk is full and the WAL cannot be copied into the database.
        reader = sqlite3.connect(settings.data_dir / "probity.db", isolation_level=None)
        reader.execute("BEGIN")
        reader.execute("SELECT count(*) FROM tips").fetchone()
        assert 507 in (_upload(web, 256 << 10) for _ in range(40))
        reader.close()
        _until(lambda: not reserve.exists() and wal.stat().st_size == 0)
        _until(lambda: web.get("/readyz").status_code == 200)
        assert _upload(web, 512 << 10) == 201
