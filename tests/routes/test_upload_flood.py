"""Uploads hold no write lock while their bodies arrive (issue 11): many at once are all
stored, what waits on disk meanwhile is ciphertext only, and a client that hangs up midway
leaves nothing behind."""

from __future__ import annotations

import os
import stat
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import TypeVar

import anyio
import pytest
from fastapi.testclient import TestClient
from sqlalchemy import Engine, func, select

from service.blobs.models import Blob, BlobChunk
from service.config import Settings
from service.db import make_session_factory
from service.tips.models import Attachment, Tip
from tests.factories import Border
from tests.routes.asgi_stream import Streamed, multipart, post_streamed, tip_with_files

T = TypeVar("T")
MARKER = b"PLAINTEXT-MARKER-4471-"


def in_app_loop(web: TestClient, work: Callable[[], Awaitable[T]]) -> T:
    """Run `work` in the event loop of the app under test (its lifespan is running)."""
    assert web.portal is not None
    return web.portal.call(work)


async def post_tip(
    web: TestClient, body: bytes, boundary: str, between: Callable[[int], None] | None = None
) -> Streamed:
    headers = {"content-type": f"multipart/form-data; boundary={boundary}"}
    return await post_streamed(web.app, "/api/v1/tips", body, headers=headers, between=between)


def spool_files(data_dir: Path) -> dict[int, str]:
    """This process's open files in the data directory (the spools: unlinked, so only their
    descriptors show them)."""
    found = {}
    for entry in Path("/proc/self/fd").iterdir():
        try:
            target = os.readlink(entry)
        except OSError:
            continue
        if target.startswith(str(data_dir.resolve()) + "/"):
            found[int(entry.name)] = target
    return found


def counts(engine: Engine) -> tuple[int, int, int, int]:
    with make_session_factory(engine)() as session:
        return tuple(  # type: ignore[return-value]
            session.scalar(select(func.count()).select_from(model)) or 0
            for model in (Tip, Blob, BlobChunk, Attachment)
        )


def files_shown(web: TestClient, receipt: str) -> list[dict[str, object]]:
    token = web.post("/api/v1/reporter/session", json={"receipt": receipt}).json()["token"]
    view = web.get("/api/v1/reporter/tip", headers={"authorization": f"Bearer {token}"})
    assert view.status_code == 200, view.text
    attachments: list[dict[str, object]] = view.json()["attachments"]
    return attachments


def test_eighteen_uploads_at_once_are_all_stored_with_two_intake_threads(
    web: TestClient, settings: Settings, border: Border
) -> None:
    assert settings.intake_threads == 2
    # 6 clients x 3 uploads of 1-2 MiB: more than the PostgreSQL pool's 15 connections, too.
    sizes = [(1 << 20) + 60_000 * i for i in range(18)]
    answers: list[Streamed] = []

    async def flood() -> None:
        async def one(size: int) -> None:
            body, boundary = tip_with_files(("evidence.bin", os.urandom(size)))
            answers.append(await post_tip(web, body, boundary))

        with anyio.fail_after(60):
            async with anyio.create_task_group() as tasks:
                for size in sizes:
                    tasks.start_soon(one, size)

    in_app_loop(web, flood)
    assert sorted(a.status for a in answers) == [201] * 18, [a.body[:200] for a in answers]
    stored = sorted(int(str(files_shown(web, a.json()["receipt"])[0]["size"])) for a in answers)
    assert stored == sizes


def test_the_spool_holds_only_ciphertext_while_the_body_arrives(
    web: TestClient, settings: Settings, border: Border
) -> None:
    first = MARKER * (400_000 // len(MARKER))
    body, boundary = tip_with_files(("first.bin", first), ("second.bin", MARKER * 20_000))
    second_starts = body.index(b"second.bin")
    seen: list[bytes] = []

    def inspect(sent: int) -> None:
        if seen or sent < second_starts + 1024:
            return  # the first file is not all in yet
        for fd in spool_files(settings.data_dir):
            assert stat.S_IMODE(os.fstat(fd).st_mode) == 0o600
            with open(f"/proc/self/fd/{fd}", "rb") as spool:
                seen.append(spool.read())

    answer = in_app_loop(web, lambda: post_tip(web, body, boundary, between=inspect))
    assert answer.status == 201, answer.body
    assert len(seen) == 1  # one spool, holding the first file's ciphertext
    assert len(seen[0]) > len(first)
    assert MARKER not in seen[0]
    assert spool_files(settings.data_dir) == {}  # closed once stored
    assert [f["size"] for f in files_shown(web, answer.json()["receipt"])] == [
        len(first),
        len(MARKER) * 20_000,
    ]


@pytest.mark.parametrize("path", ["/api/v1/tips", "/api/v1/reporter/attachments"])
def test_a_client_that_hangs_up_midway_leaves_no_rows_and_no_spool(
    web: TestClient, settings: Settings, engine: Engine, border: Border, path: str
) -> None:
    first = in_app_loop(web, lambda: post_tip(web, *tip_with_files(("a.bin", os.urandom(1000)))))
    token = web.post("/api/v1/reporter/session", json={"receipt": first.json()["receipt"]})
    before = counts(engine)
    if path == "/api/v1/tips":
        body, boundary = tip_with_files(("a.bin", os.urandom(500_000)), ("b.bin", b"x" * 400_000))
    else:
        body, boundary = multipart([("files", "more.bin", os.urandom(900_000))])
    headers = {
        "content-type": f"multipart/form-data; boundary={boundary}",
        "authorization": f"Bearer {token.json()['token']}",
    }
    opened: list[int] = []

    def watch(sent: int) -> None:
        opened.extend(spool_files(settings.data_dir))

    async def hang_up() -> Streamed:
        return await post_streamed(
            web.app, path, body, headers=headers, between=watch, hang_up_after=len(body) // 2
        )

    in_app_loop(web, hang_up)
    assert opened  # a spool was in use when the client left
    assert spool_files(settings.data_dir) == {}
    assert counts(engine) == before
