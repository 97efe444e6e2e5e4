"""PostgreSQL failures answered in bounded time (issue 11): terminated backends, a refused
connection and a silently stalled network each give 503 with Retry-After, never a 500 or a hang;
nothing is stored by a request that got 503; the pool recovers without a restart.

A real `probity serve` on a real PostgreSQL database, with short database timeouts; the network
faults come from `tests.pg_faults.FaultyProxy` between the two.
"""

from __future__ import annotations

import json
import threading
import time
from collections import Counter
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest
from sqlalchemy import Engine, func, select
from sqlalchemy.pool import NullPool

from service.audit.models import PendingAuditEntry
from service.blobs.models import Blob
from service.config import Settings
from service.db import make_engine
from service.tips.models import Tip
from tests.conftest import CHEAP_KDF
from tests.factories import Border, seed_border, tip_json
from tests.live import Answer, Client, live_server, server_env
from tests.pg_faults import FaultyProxy, backend_terminator, faulty_proxy
from tests.staff_util import next_code

# Short enough to keep these tests quick; production defaults live in service.config.
FAST_FAILURE = {
    "PROBITY_DB__CONNECT_TIMEOUT_SECONDS": "2",
    "PROBITY_DB__ANSWER_TIMEOUT_SECONDS": "1.5",
    "PROBITY_DB__POOL_TIMEOUT_SECONDS": "2",
    "PROBITY_READYZ_TIMEOUT_SECONDS": "2",
}
BOUND = 5.0  # seconds within which a stalled or refused database must give 503


@pytest.fixture
def pg_settings(tmp_path: Path, pg_database_url: str) -> Settings:
    return Settings(data_dir=tmp_path / "var", database_url=pg_database_url, kdf=CHEAP_KDF)


@pytest.fixture
def pg_engine(pg_settings: Settings) -> Iterator[Engine]:
    # No pool: the tests terminate every connection to the database, this engine's too.
    engine = make_engine(pg_settings.effective_database_url, poolclass=NullPool)
    yield engine
    engine.dispose()


@pytest.fixture
def border(pg_engine: Engine, pg_settings: Settings) -> Border:
    return seed_border(pg_engine, pg_settings)


def _stored(engine: Engine) -> tuple[int, ...]:
    """(tips, pending audit rows, blobs): what a submission leaves behind."""
    with engine.connect() as conn:
        return tuple(
            conn.scalar(select(func.count()).select_from(table)) or 0
            for table in (Tip, PendingAuditEntry, Blob)
        )


Submit = Callable[[Client], Answer]


def _post_tip(client: Client) -> Answer:
    return client.post("/api/v1/tips", json=tip_json())


def _post_tip_with_file(client: Client) -> Answer:
    """Multipart: the tip, then a file streamed into chunk rows (the pipelined path)."""
    boundary = "pgfaultsboundary"
    body = (
        f'--{boundary}\r\nContent-Disposition: form-data; name="tip"\r\n\r\n'
        f"{json.dumps(tip_json())}\r\n"
        f'--{boundary}\r\nContent-Disposition: form-data; name="files"; filename="notes.txt"\r\n'
        f"Content-Type: text/plain\r\n\r\n"
    ).encode()
    body += b"what I saw, in detail\n" * 8000 + f"\r\n--{boundary}--\r\n".encode()
    content_type = f"multipart/form-data; boundary={boundary}"
    return client.request("POST", "/api/v1/tips", body, {"content-type": content_type})


def _timed(call: Callable[[], Answer]) -> tuple[Answer, float]:
    started = time.monotonic()
    response = call()
    return response, time.monotonic() - started


def _assert_unavailable(response: Answer) -> None:
    assert response.status_code == 503, (response.status_code, response.text[:300])
    assert response.headers.get("retry-after", "").isdigit(), response.headers


def _assert_logged_without_content(log: Path) -> None:
    """503s are logged with the failure's class name; never a statement, a server message or a
    line of the database driver's own."""
    lines = [json.loads(line) for line in log.read_text().splitlines() if line.startswith("{")]
    failures = {line.get("error") for line in lines if line.get("status") == 503}
    assert failures & {"OperationalError", "PendingRollbackError", "InterfaceError"}, failures
    # The driver's and the pool's own messages would date a reporter's request: only counted.
    dated = [line for line in lines if line.get("logger", "").startswith(("psycopg", "sqlalchemy"))]
    assert dated == []
    text = log.read_text()
    for leak in ("INSERT", "SELECT", "terminating connection", "Traceback"):
        assert leak not in text


def _staff_token(client: Client, engine: Engine, border: Border) -> dict[str, str]:
    who = border.reviewer_us
    body = {"username": who.username, "password": who.password, "totp": next_code(engine, who)}
    response = client.post("/api/v1/staff/session", json=body)
    assert response.status_code == 201, response.text
    return {"Authorization": f"Bearer {response.json()['token']}"}


def _per_tip(client: Client, engine: Engine, submit: Submit = _post_tip) -> tuple[int, ...]:
    """Submit one tip; returns the rows (as `_stored` counts them) one submission stores."""
    before = _stored(engine)
    answer = submit(client)
    assert answer.status_code == 201, answer.text
    return tuple(a - b for a, b in zip(_stored(engine), before, strict=True))


def _added(before: tuple[int, ...], *submitted: tuple[int, tuple[int, ...]]) -> tuple[int, ...]:
    """The row counts after `before` plus, for each (count, rows per tip), count tips' rows."""
    return tuple(
        b + sum(count * rows[i] for count, rows in submitted) for i, b in enumerate(before)
    )


def _recovers(client: Client, within: float = BOUND) -> int:
    """Tips are taken and /readyz is 200 again, without a restart; returns the tips created."""
    deadline = time.monotonic() + within
    statuses: list[int] = []
    created = 0
    while time.monotonic() < deadline:
        statuses = [_post_tip(client).status_code, client.get("/readyz").status_code]
        created += statuses[0] == 201
        if statuses == [201, 200]:
            return created
        time.sleep(0.2)
    pytest.fail(f"not serving again after {within} s: {statuses}")


def test_terminated_backends_between_requests_cost_at_most_a_503(
    pg_settings: Settings, pg_engine: Engine, border: Border, tmp_path: Path
) -> None:
    env = server_env(pg_settings, **FAST_FAILURE)
    with (
        live_server(env, tmp_path / "server.log") as base,
        backend_terminator(pg_settings.effective_database_url) as terminate,
    ):
        client = Client(base)
        headers = _staff_token(client, pg_engine, border)
        per_tip = _per_tip(client, pg_engine)
        before = _stored(pg_engine)
        created = 0
        for _ in range(4):
            terminate()  # the pool's connections die between requests
            first = _post_tip(client)
            if first.status_code != 201:
                _assert_unavailable(first)
                assert _post_tip(client).status_code == 201, "the pool did not recover"
            created += 1
            terminate()
            queue = client.get("/api/v1/queue", headers=headers)
            if queue.status_code != 200:
                _assert_unavailable(queue)
            terminate()
            form = client.get("/api/v1/intake/form")
            if form.status_code != 200:
                _assert_unavailable(form)
        created += _recovers(client)
    assert _stored(pg_engine) == _added(before, (created, per_tip))


_CALLS: dict[str, Submit] = {
    "tip": _post_tip,
    "tip+file": _post_tip_with_file,
    "queue": lambda client: client.get("/api/v1/queue"),
    "readyz": lambda client: client.get("/readyz"),
}


def _hammer(call: str, client: Client, stop: threading.Event, seen: Counter[str]) -> None:
    while not stop.is_set():
        try:
            response = _CALLS[call](client)
        except OSError as exc:  # a timeout or a dropped connection: never acceptable
            seen[f"{call} {type(exc).__name__}"] += 1
            continue
        retry = "+retry-after" if response.headers.get("retry-after") else ""
        seen[f"{call} {response.status_code}{retry}"] += 1


def test_backends_terminated_during_requests_give_503_or_success_never_500(
    pg_settings: Settings, pg_engine: Engine, border: Border, tmp_path: Path
) -> None:
    env = server_env(pg_settings, **FAST_FAILURE)
    seen: Counter[str] = Counter()
    with (
        live_server(env, tmp_path / "server.log") as base,
        backend_terminator(pg_settings.effective_database_url) as terminate,
    ):
        client = Client(base)
        staff = Client(base, headers=_staff_token(client, pg_engine, border))
        per_tip = _per_tip(client, pg_engine)
        per_tip_with_file = _per_tip(client, pg_engine, _post_tip_with_file)
        before = _stored(pg_engine)
        stop = threading.Event()
        callers = [
            ("tip", client),
            ("tip", client),
            ("tip+file", client),
            ("tip+file", client),
            ("queue", staff),
            ("readyz", client),
        ]
        threads = [
            threading.Thread(target=_hammer, args=(call, caller, stop, seen))
            for call, caller in callers
        ]
        for thread in threads:
            thread.start()
        try:
            ended = 0
            until = time.monotonic() + 2.5
            while time.monotonic() < until:
                ended += terminate()
                time.sleep(0.05)
        finally:
            stop.set()
            for thread in threads:
                thread.join()
        assert ended > 10
        created = seen["tip 201"] + _recovers(client)
    allowed = {"tip 201", "tip+file 201", "queue 200", "readyz 200", "readyz 503"}
    allowed |= {f"{call} 503+retry-after" for call in ("tip", "tip+file", "queue")}
    assert set(seen) <= allowed, seen
    assert seen["tip 503+retry-after"] + seen["tip+file 503+retry-after"] > 0, seen
    _assert_logged_without_content(tmp_path / "server.log")
    stored = _added(before, (created, per_tip), (seen["tip+file 201"], per_tip_with_file))
    assert _stored(pg_engine) == stored, seen


@pytest.fixture
def proxied(
    pg_settings: Settings, border: Border, tmp_path: Path
) -> Iterator[tuple[Client, FaultyProxy]]:
    """The server, talking to PostgreSQL through a proxy the test can stall or close."""
    with faulty_proxy(pg_settings.effective_database_url) as proxy:
        through = pg_settings.model_copy(
            update={"database_url": proxy.url_for(pg_settings.effective_database_url)}
        )
        env = server_env(through, **FAST_FAILURE)
        with live_server(env, tmp_path / "server.log") as base:
            try:
                yield Client(base), proxy
            finally:
                proxy.resume()  # lets requests stuck in a server without timeouts finish


def test_a_refused_database_gives_503_in_bounded_time_and_recovers(
    proxied: tuple[Client, FaultyProxy], pg_engine: Engine
) -> None:
    client, proxy = proxied
    per_tip = _per_tip(client, pg_engine)
    before = _stored(pg_engine)
    proxy.refuse()  # the server goes away: open connections close, new ones are refused
    for call in (
        lambda: _post_tip(client),
        lambda: _post_tip(client),
        lambda: client.get("/api/v1/intake/form"),
        lambda: client.get("/readyz"),
    ):
        response, took = _timed(call)
        assert response.status_code == 503, (response.status_code, response.text[:300])
        assert took < BOUND
    page, took = _timed(lambda: client.get("/report"))
    _assert_unavailable(page)
    assert page.headers["content-type"].startswith("text/html")
    assert took < BOUND
    assert _stored(pg_engine) == before
    proxy.resume()
    created = _recovers(client)
    assert _stored(pg_engine) == _added(before, (created, per_tip))


def test_a_silently_stalled_database_gives_503_within_seconds_and_recovers(
    proxied: tuple[Client, FaultyProxy], pg_engine: Engine
) -> None:
    client, proxy = proxied
    per_tip = _per_tip(client, pg_engine)
    assert client.get("/readyz").status_code == 200
    before = _stored(pg_engine)
    proxy.stall()  # bytes are accepted and go nowhere: no error, no reset, nothing
    try:
        for submit in (_post_tip, _post_tip_with_file):
            tip, took = _timed(lambda: submit(client))  # noqa: B023 (called at once)
            _assert_unavailable(tip)
            assert took < BOUND
        ready, took = _timed(lambda: client.get("/readyz"))
        assert ready.status_code == 503, ready.text
        assert took < BOUND
        form, took = _timed(lambda: client.get("/api/v1/intake/form"))
        _assert_unavailable(form)
        assert took < BOUND
    finally:
        proxy.resume()
    created = _recovers(client)
    assert _stored(pg_engine) == _added(before, (created, per_tip))
