"""A PostgreSQL COMMIT whose answer never arrives (review of issue 11).

The client-side deadline abandons the connection after the server may well have committed: the
request then gets 503, but must not tell the reporter "nothing was stored" (the tip may be there,
and only a retry with the same Idempotency-Key or form gets its receipt back). A retry with the
same key gets the one receipt; no second tip is stored.
"""

from __future__ import annotations

import socket
from collections.abc import Iterator
from contextlib import suppress
from pathlib import Path

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import Engine, func, select
from sqlalchemy.pool import NullPool

from routes.app import create_app
from service.config import DatabaseSettings, Settings
from service.db import make_engine
from service.db_errors import NOTHING_STORED
from service.tips.models import Tip
from tests.conftest import CHEAP_KDF
from tests.factories import seed_border, tip_json
from tests.pg_faults import FaultyProxy, faulty_proxy
from tests.routes.reporter_pages_util import NO_FILE, report_data, report_form

KEY = "review-commit-answer-lost-0001"


class _CommitStaller:
    """Lets a COMMIT through to the server, then stalls every answer (once armed, after
    letting `skip` COMMITs pass normally)."""

    def __init__(self, proxy: FaultyProxy) -> None:
        self.armed = False
        self.skip = 0

        def watched(src: socket.socket, dst: socket.socket) -> None:
            to_server = dst.getpeername() == proxy.upstream
            try:
                while data := src.recv(65536):
                    proxy._forwarding.wait()
                    dst.sendall(data)
                    if to_server and self.armed and b"COMMIT" in data:
                        if self.skip:
                            self.skip -= 1
                            continue
                        self.armed = False
                        proxy.stall()
            except OSError:
                pass
            with suppress(OSError):
                src.close()
                dst.close()

        proxy._pump = watched  # type: ignore[method-assign]


@pytest.fixture
def setup(
    tmp_path: Path, pg_database_url: str
) -> Iterator[tuple[TestClient, FaultyProxy, _CommitStaller, Engine]]:
    direct = make_engine(pg_database_url, poolclass=NullPool)
    base = Settings(data_dir=tmp_path / "var", database_url=pg_database_url, kdf=CHEAP_KDF)
    seed_border(direct, base)
    with faulty_proxy(pg_database_url) as proxy:
        staller = _CommitStaller(proxy)
        limits = DatabaseSettings(answer_timeout_seconds=1.5, pool_timeout_seconds=2)
        settings = base.model_copy(
            update={"database_url": proxy.url_for(pg_database_url), "db": limits}
        )
        with TestClient(create_app(settings)) as web:
            yield web, proxy, staller, direct
    direct.dispose()


def _tips(engine: Engine) -> int:
    with engine.connect() as connection:
        return int(connection.scalar(select(func.count()).select_from(Tip)) or 0)


def test_a_commit_whose_answer_is_lost_does_not_claim_nothing_was_stored(
    setup: tuple[TestClient, FaultyProxy, _CommitStaller, Engine],
) -> None:
    web, proxy, staller, direct = setup
    headers = {"Idempotency-Key": KEY}
    assert web.post("/api/v1/tips", json=tip_json()).status_code == 201  # warm: context loaded
    before = _tips(direct)
    staller.armed = True
    lost = web.post("/api/v1/tips", json=tip_json(), headers=headers)
    proxy.resume()
    assert lost.status_code == 503, lost.text
    assert _tips(direct) - before == 1  # the server committed; only its answer was lost
    assert NOTHING_STORED not in lost.json()["detail"], lost.json()
    assert "Idempotency-Key" in lost.json()["detail"]
    retry = web.post("/api/v1/tips", json=tip_json(), headers=headers)
    assert retry.status_code == 201, retry.text
    assert _tips(direct) - before == 1


def test_the_report_form_page_does_not_say_nothing_was_stored_either(
    setup: tuple[TestClient, FaultyProxy, _CommitStaller, Engine],
) -> None:
    web, proxy, staller, direct = setup
    assert web.post("/api/v1/tips", json=tip_json()).status_code == 201  # warm
    form = report_form(web)
    data = report_data(form)
    before = _tips(direct)
    staller.armed = True  # a form without files is stored in one transaction, like JSON
    lost = web.post("/report?lang=en", data=data, files=NO_FILE)
    proxy.resume()
    assert lost.status_code == 503
    assert _tips(direct) - before == 1
    assert "Nothing was stored" not in lost.text
    again = web.post("/report?lang=en", data=data, files=NO_FILE)  # the same form, sent again
    assert again.status_code == 200, again.text
    assert _tips(direct) - before == 1
