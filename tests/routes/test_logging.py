"""Logs carry allowlisted keys only, and never anything that could identify a reporter's client.

The output is captured at the file-descriptor level with the real configuration, so a leak anywhere
in the pipeline fails these tests; `test_the_capture_would_see_a_leak` proves the capture works.
"""

from __future__ import annotations

import json
import logging
from typing import Any

import pytest
from fastapi import FastAPI
from fastapi.testclient import TestClient
from opentelemetry import trace

from routes.requestlog import DeferredRequestLog, logged_immediately
from service.logging import configure_logging, get_logger, take_connection_message_counts

UA = "Canary-UA/9.9"
CLIENT_HOST = "203.0.113.77"
QUERY_CANARY = "QS-CANARY-31337"
PATH_CANARY = "RAW-PATH-CANARY-42"
CONTENT_CANARY = "CONTENT-CANARY-99"


@pytest.fixture(autouse=True)
def _quiet_test_client(caplog: pytest.LogCaptureFixture) -> None:
    # The test client's HTTP library logs the URLs it requests: the client side, not the server.
    caplog.set_level(logging.WARNING, logger="httpx2")
    caplog.set_level(logging.WARNING, logger="httpx")


def lines(captured: str) -> list[dict[str, Any]]:
    return [json.loads(line) for line in captured.splitlines() if line.startswith("{")]


def test_request_logs_hold_no_client_address_agent_query_or_raw_path(
    app: FastAPI, capfd: pytest.CaptureFixture[str]
) -> None:
    def tip(tip_id: str) -> dict[str, str]:
        return {"ok": "yes"}

    app.add_api_route("/api/v1/tips/{tip_id}", tip)
    headers = {"user-agent": UA, "x-forwarded-for": CLIENT_HOST, "referer": QUERY_CANARY}
    with TestClient(app, client=(CLIENT_HOST, 4242), headers=headers) as client:
        for path in ("/", "/?lang=es", "/healthz", "/nowhere", "/api/v1/nope", "/static/style.css"):
            client.get(f"{path}{'&' if '?' in path else '?'}q={QUERY_CANARY}")
        client.post("/", content=CONTENT_CANARY)
        client.get(f"/api/v1/tips/{PATH_CANARY}")
    out, err = capfd.readouterr()
    captured = out + err
    for canary in (UA, CLIENT_HOST, QUERY_CANARY, PATH_CANARY, CONTENT_CANARY):
        assert canary not in captured, canary
    # Positive control: the lines we expect are there, so the capture did see the logs.
    records = lines(err)
    templates = {(r["event"], r.get("path_template")) for r in records}
    assert ("request", "/healthz") in templates
    assert ("request", "/api/v1/tips/{tip_id}") in templates
    assert ("reporter_requests", "/") in templates  # flushed at shutdown


def test_reporter_requests_are_counted_not_timed_one_by_one(
    app: FastAPI, capfd: pytest.CaptureFixture[str]
) -> None:
    with TestClient(app) as client:
        client.get("/")
        client.get("/?lang=es")
        client.get("/static/style.css")
        client.get("/healthz")
        before_flush = lines(capfd.readouterr().err)
    after_flush = lines(capfd.readouterr().err)
    assert [r["path_template"] for r in before_flush if "path_template" in r] == ["/healthz"]
    totals = {
        r["path_template"]: r["count"] for r in after_flush if r["event"] == "reporter_requests"
    }
    assert totals == {"/": 2, "/static/{path}": 1}


def test_unexpected_errors_are_logged_by_class_name_only(
    app: FastAPI, capfd: pytest.CaptureFixture[str]
) -> None:
    def stats() -> None:
        raise RuntimeError(f"SELECT ... parameters: {CONTENT_CANARY}")

    app.add_api_route("/api/v1/test-error", stats)
    with TestClient(app) as client:
        assert client.get("/api/v1/test-error").status_code == 500
    err = capfd.readouterr().err
    assert CONTENT_CANARY not in err
    assert "Traceback" not in err
    [line] = [r for r in lines(err) if r.get("path_template") == "/api/v1/test-error"]
    assert line["error"] == "RuntimeError"
    assert line["status"] == 500


def test_the_capture_would_see_a_leak(capfd: pytest.CaptureFixture[str]) -> None:
    configure_logging("INFO")
    get_logger("probity.test").info("canary", reason=UA)
    assert UA in capfd.readouterr().err


def test_keys_outside_the_allowlist_are_dropped(capfd: pytest.CaptureFixture[str]) -> None:
    configure_logging("INFO")
    get_logger("probity.test").info(
        "submitted", tip_id="t-1", client=CLIENT_HOST, agent=UA, narrative=CONTENT_CANARY
    )
    [record] = lines(capfd.readouterr().err)
    assert record["tip_id"] == "t-1"
    assert record["dropped"] == 3
    assert set(record) <= {"event", "level", "logger", "timestamp", "tip_id", "dropped"}


def test_standard_library_tracebacks_become_a_class_name(capfd: pytest.CaptureFixture[str]) -> None:
    configure_logging("INFO")
    try:
        raise ValueError(CONTENT_CANARY)
    except ValueError:
        logging.getLogger("some.library").exception("it failed")
    [record] = lines(capfd.readouterr().err)
    assert record["event"] == "it failed"
    assert record["error"] == "ValueError"
    assert CONTENT_CANARY not in json.dumps(record)


def test_the_server_access_log_is_silenced(capfd: pytest.CaptureFixture[str]) -> None:
    configure_logging("INFO")
    logging.getLogger("uvicorn.access").info('%s - "GET / HTTP/1.1" 200', f"{CLIENT_HOST}:4242")
    assert CLIENT_HOST not in capfd.readouterr().err


def test_the_level_is_respected(capfd: pytest.CaptureFixture[str]) -> None:
    configure_logging("warning")
    get_logger("probity.test").info("quiet")
    get_logger("probity.test").warning("loud")
    assert [r["event"] for r in lines(capfd.readouterr().err)] == ["loud"]
    configure_logging("INFO")


def test_an_unknown_level_is_refused() -> None:
    with pytest.raises(ValueError, match="unknown log level"):
        configure_logging("CHATTY")


@pytest.mark.parametrize(
    ("template", "immediate"),
    [
        ("/healthz", True),
        ("/staff/queue", True),
        ("/api/v1/tips/{tip_id}", True),
        ("/api/v1/audit/checkpoint", True),
        ("/api/v1/tips", False),
        ("/api/v1/reporter/tip", False),
        ("/report", False),
        ("/static/{path}", False),
        ("/staffing", False),
        (None, False),
    ],
)
def test_only_staff_audit_and_probe_requests_are_logged_one_by_one(
    template: str | None, immediate: bool
) -> None:
    assert logged_immediately(template) is immediate


class _RecordingTracerProvider(trace.TracerProvider):
    """An operator's configured tracing, as FastAPI's native telemetry would find it."""

    def __init__(self) -> None:
        self.tracers: list[str] = []

    def get_tracer(self, instrumenting_module_name: str, *args: Any, **kwargs: Any) -> Any:
        self.tracers.append(instrumenting_module_name)
        return trace.NoOpTracer()


def test_framework_telemetry_stays_off_even_when_tracing_is_configured(
    app: FastAPI, monkeypatch: pytest.MonkeyPatch
) -> None:
    provider = _RecordingTracerProvider()
    monkeypatch.setattr(trace, "get_tracer_provider", lambda: provider)
    monkeypatch.setenv("FASTAPI_OTEL_AUTO_CONFIGURE", "true")
    with TestClient(app) as client:
        for path in ("/", "/healthz", "/report", "/nowhere"):
            client.get(path)
    assert trace.get_tracer_provider() is provider  # the patch is what FastAPI would see
    assert provider.tracers == []


def test_messages_written_while_serving_a_connection_are_only_counted(
    capfd: pytest.CaptureFixture[str],
) -> None:
    configure_logging("INFO")
    take_connection_message_counts()  # start from zero
    capfd.readouterr()
    # What uvicorn's protocol layer writes on a malformed request, and an asyncio transport error.
    protocol_logger = logging.getLogger("uvicorn.error")
    record = protocol_logger.makeRecord(
        "uvicorn.error",
        logging.WARNING,
        "/x/uvicorn/protocols/http/httptools_impl.py",
        176,
        "Invalid HTTP request received.",
        (),
        None,
    )
    protocol_logger.handle(record)
    logging.getLogger("asyncio").error("socket.send() raised exception.")
    logging.getLogger("uvicorn.error").info("Application startup complete.")  # not a connection's
    assert [line["event"] for line in lines(capfd.readouterr().err)] == [
        "Application startup complete."
    ]
    DeferredRequestLog().flush()
    written = lines(capfd.readouterr().err)
    assert {(line["reason"], line["count"]) for line in written} == {
        ("asyncio:error", 1),
        ("uvicorn.error:warning", 1),
    }
    assert all(line["event"] == "connection_messages" for line in written)
