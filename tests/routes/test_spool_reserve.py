"""Uploads in flight must not eat the database's room (review of issue 11).

Spools live in the data directory, beside the SQLite database. A stranger's uploads, sent slowly
and many at once, could otherwise fill the disk while no byte is stored: every other writer (a
small tip, a staff action, the audit) then gets SQLITE_FULL, intake answers 507 for everyone and
/readyz fails. A spool stops (507 for that upload alone) before the filesystem's free space falls
under twice the storage reserve. Needs a tmpfs mount (root), like test_disk_full_tmpfs.py.
"""

from __future__ import annotations

import os
from collections.abc import Iterator
from pathlib import Path

import pytest
from fastapi.testclient import TestClient

from routes.app import create_app
from service.config import Settings
from service.db import make_engine
from tests.factories import seed_border, tip_json
from tests.routes.asgi_stream import post_streamed, tip_with_files
from tests.routes.test_disk_full_tmpfs import disk, settings_on  # noqa: F401 (fixture)

MIB = 1 << 20


@pytest.fixture
def web_on_disk(disk: Path) -> Iterator[tuple[TestClient, Settings]]:  # noqa: F811
    settings = settings_on(disk, reserve_mb=2)
    engine = make_engine(settings.effective_database_url)
    try:
        seed_border(engine, settings)
    finally:
        engine.dispose()
    with TestClient(create_app(settings)) as web:
        yield web, settings


def _free(path: Path) -> int:
    stat = os.statvfs(path)
    return stat.f_bavail * stat.f_frsize


def test_an_upload_in_flight_leaves_the_database_its_reserve(
    web_on_disk: tuple[TestClient, Settings],
) -> None:
    web, settings = web_on_disk
    assert web.post("/api/v1/tips", json=tip_json()).status_code == 201
    floor = 2 * settings.storage_reserve_mb * MIB
    # Files filling all but half a MiB of the disk, sent slowly (the client never finishes
    # in time for anyone else).
    size = _free(settings.data_dir) - MIB // 2
    body, boundary = tip_with_files(
        ("a.bin", os.urandom(size // 2)), ("b.bin", os.urandom(size // 2))
    )
    lowest = [_free(settings.data_dir)]

    def watch(_sent: int) -> None:
        lowest.append(_free(settings.data_dir))

    async def upload() -> int:
        headers = {"content-type": f"multipart/form-data; boundary={boundary}"}
        answer = await post_streamed(web.app, "/api/v1/tips", body, headers=headers, between=watch)
        return answer.status

    assert web.portal is not None
    status = web.portal.call(upload)
    assert status == 507
    # Chunk rows are at most a few hundred KiB: the spool stopped at the floor.
    assert min(lowest) >= floor - MIB, f"spools took the disk down to {min(lowest) // 1024} KiB"
    # Nobody else was affected: the service is ready and a small tip is stored.
    assert web.get("/readyz").status_code == 200
    assert web.post("/api/v1/tips", json=tip_json()).status_code == 201
