"""How `probity serve` runs uvicorn: timeouts, a connection limit, and no per-connection logs.

uvicorn closes idle keep-alive connections (`timeout_keep_alive`) and answers 503 beyond
`limit_concurrency`, but it waits forever for the headers of a request: a client that opens
connections and trickles header bytes (or sends none) would hold them all. `HeaderDeadlineProtocol`
closes a connection whose request headers are not complete within
`PROBITY_HTTP_HEADER_TIMEOUT_SECONDS` of the connection opening or of the request's first byte.

Imports uvicorn and httptools (declared dependencies), and `service.config`.
"""

from __future__ import annotations

import asyncio
import functools
from typing import Any

from uvicorn.protocols.http.httptools_impl import HttpToolsProtocol

from service.config import Settings

__all__ = ["HeaderDeadlineProtocol", "uvicorn_options"]


@functools.cache
def _header_timeout() -> float:
    # Read in each worker process (uvicorn spawns them; class attributes would not travel).
    return Settings().http_header_timeout_seconds


class HeaderDeadlineProtocol(HttpToolsProtocol):
    """uvicorn's httptools protocol, closing connections whose headers do not arrive in time."""

    _header_timer: asyncio.TimerHandle | None = None

    def _arm_header_deadline(self) -> None:
        if self._header_timer is None:
            self._header_timer = self.loop.call_later(_header_timeout(), self._headers_too_slow)

    def _disarm_header_deadline(self) -> None:
        if self._header_timer is not None:
            self._header_timer.cancel()
            self._header_timer = None

    def _headers_too_slow(self) -> None:
        self._header_timer = None
        if not self.transport.is_closing():
            self.transport.close()

    def connection_made(self, transport: asyncio.Transport) -> None:  # type: ignore[override]
        super().connection_made(transport)
        self._arm_header_deadline()

    def connection_lost(self, exc: Exception | None) -> None:
        self._disarm_header_deadline()
        super().connection_lost(exc)

    def on_message_begin(self) -> None:
        super().on_message_begin()
        self._arm_header_deadline()

    def on_headers_complete(self) -> None:
        self._disarm_header_deadline()
        super().on_headers_complete()


def uvicorn_options(settings: Settings) -> dict[str, Any]:
    """Keyword arguments for `uvicorn.run` beyond host, port and workers."""
    return {
        "http": f"{HeaderDeadlineProtocol.__module__}:{HeaderDeadlineProtocol.__name__}",
        "timeout_keep_alive": settings.http_keep_alive_seconds,
        "limit_concurrency": settings.http_max_connections,
        # No access log: it would record client addresses and user agents.
        "access_log": False,
        # Our logging (service.logging) is configured by the command; uvicorn must not replace it.
        "log_config": None,
        "server_header": False,
        "proxy_headers": False,
    }
