"""Request logging and the last-resort 500, as a pure ASGI middleware.

What is logged: method, the matched route's path *template* (never the raw path, which can carry
ids), status, duration, and the class name of an unexpected exception or of a database failure
answered 503 (`routes.errors.HANDLED_ERROR`). Never the client address,
headers, query string or body; this module does not read them.

When: staff, audit and probe requests get one line each, as they happen. Every other request is
treated as the reporter's (deny by default: pages, reporter API, static files, unknown paths) and
is only counted, then written as totals per route and status at a fixed interval
(`REPORTER_LOG_INTERVAL`), because a line written when a reporter acts would give the exact time of
that action, which the threat model forbids (design §2.3).

An exception that escapes the routers is answered here with `internal_error_response` and not
re-raised: Starlette's own error middleware would answer without our error shape and the server
would print a traceback, whose message may quote content.

Imports Starlette's ASGI types, `routes.errors` and `service.logging`.
"""

from __future__ import annotations

import time
from dataclasses import dataclass

import anyio
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from routes.errors import HANDLED_ERROR, internal_error_response
from service.logging import get_logger, take_connection_message_counts

__all__ = [
    "REPORTER_LOG_INTERVAL",
    "DeferredRequestLog",
    "RequestLogMiddleware",
    "flush_periodically",
    "logged_immediately",
    "path_template",
]

REPORTER_LOG_INTERVAL = 3600.0  # seconds; matches the audit log's batching of reporter events
_METHODS = frozenset({"GET", "HEAD", "POST", "PUT", "PATCH", "DELETE", "OPTIONS"})
_IMMEDIATE_EXACT = frozenset({"/healthz", "/readyz", "/openapi.json"})
_IMMEDIATE_TREES = (
    "/staff",
    "/audit",
    "/api/v1/staff",
    "/api/v1/queue",
    "/api/v1/approvals",
    "/api/v1/retention",
    "/api/v1/audit",
    "/api/v1/stats",
)
# `/api/v1/tips` (POST, intake) is the reporter's; `/api/v1/tips/{id}/...` is staff.
_IMMEDIATE_STARTS = ("/api/v1/tips/",)

_log = get_logger("probity.http")

_Key = tuple[str, str, int, str]


def path_template(scope: Scope) -> str | None:
    """`/api/v1/tips/{tip_id}` rather than the path asked for; `None` when nothing matched."""
    template = getattr(scope.get("route"), "path_format", None)
    if isinstance(template, str):  # FastAPI routes
        return template
    app_root = scope.get("app_root_path")
    if isinstance(app_root, str):  # set by a Mount (static files)
        mount = str(scope.get("root_path", ""))[len(app_root) :]
        return f"{mount}/{{path}}"
    endpoint = scope.get("endpoint")
    if endpoint is not None:  # plain Starlette routes, such as /openapi.json
        for route in getattr(scope.get("router"), "routes", ()):
            if getattr(route, "endpoint", None) is endpoint:
                found = getattr(route, "path_format", None)
                return found if isinstance(found, str) else None
    return None


def logged_immediately(template: str | None) -> bool:
    """True for staff, audit and probe routes; everything else is the reporter's and deferred."""
    if template is None:
        return False
    if template in _IMMEDIATE_EXACT or template.startswith(_IMMEDIATE_STARTS):
        return True
    return any(template == tree or template.startswith(tree + "/") for tree in _IMMEDIATE_TREES)


@dataclass
class _Tally:
    count: int = 0
    total_ms: float = 0.0


class DeferredRequestLog:
    """Counts of reporter-zone requests, written as totals so no line dates a single request."""

    def __init__(self) -> None:
        self._tallies: dict[_Key, _Tally] = {}

    def add(self, key: _Key, duration_ms: float) -> None:
        tally = self._tallies.setdefault(key, _Tally())
        tally.count += 1
        tally.total_ms += duration_ms

    def flush(self) -> int:
        """Write one line per (method, route, status, error) seen since the last flush, and the
        counts of per-connection server messages (service.logging) dropped meanwhile."""
        for (logger, level), count in sorted(take_connection_message_counts().items()):
            _log.info("connection_messages", reason=f"{logger}:{level}", count=count)
        tallies, self._tallies = self._tallies, {}
        for key in sorted(tallies):
            method, template, status, error = key
            tally = tallies[key]
            fields = {"error": error} if error else {}
            _log.info(
                "reporter_requests",
                method=method,
                path_template=template or None,
                status=status,
                count=tally.count,
                duration_ms=round(tally.total_ms / tally.count, 1),
                **fields,
            )
        return len(tallies)


async def flush_periodically(deferred: DeferredRequestLog, interval: float) -> None:
    while True:
        await anyio.sleep(interval)
        deferred.flush()


class RequestLogMiddleware:
    def __init__(self, app: ASGIApp, deferred: DeferredRequestLog) -> None:
        self.app = app
        self.deferred = deferred

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        started = time.perf_counter()
        status = 0
        error: str | None = None

        async def send_noting_status(message: Message) -> None:
            nonlocal status
            if message["type"] == "http.response.start":
                status = int(message["status"])
            await send(message)

        try:
            await self.app(scope, receive, send_noting_status)
        except Exception as exc:
            error = type(exc).__name__
            if status == 0:
                status = 500
                await internal_error_response(scope)(scope, receive, send)
        error = error or scope.get(HANDLED_ERROR)
        duration_ms = round((time.perf_counter() - started) * 1000, 1)
        self._record(scope, status, error, duration_ms)

    def _record(self, scope: Scope, status: int, error: str | None, duration_ms: float) -> None:
        method = scope["method"] if scope["method"] in _METHODS else "OTHER"
        template = path_template(scope)
        if not logged_immediately(template):
            self.deferred.add((method, template or "", status, error or ""), duration_ms)
            return
        fields: dict[str, object] = {
            "method": method,
            "path_template": template,
            "status": status,
            "duration_ms": duration_ms,
        }
        if error is not None:
            _log.error("request", error=error, **fields)
        elif status >= 500:
            _log.warning("request", **fields)
        else:
            _log.info("request", **fields)
