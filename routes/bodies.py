"""Reading request bodies with an idle deadline.

A client that stops sending mid-body would otherwise hold its intake slot (and, later in the
request, database work) for as long as the connection lives. Tor links are slow but not silent:
30 seconds without a single byte ends the request with 408.
"""

from __future__ import annotations

from collections.abc import AsyncIterator

import anyio
from starlette.requests import Request

from service.errors import RequestTimeout

__all__ = ["IDLE_SECONDS", "body_chunks"]

IDLE_SECONDS = 30.0


async def body_chunks(request: Request, *, idle: float | None = None) -> AsyncIterator[bytes]:
    """`request.stream()`, but a gap of `idle` seconds between chunks raises RequestTimeout.

    The default comes from the app's settings (`PROBITY_BODY_IDLE_SECONDS`).
    """
    if idle is None:
        settings = getattr(request.app.state, "settings", None)
        idle = getattr(settings, "body_idle_seconds", IDLE_SECONDS)
    stream = request.stream().__aiter__()
    while True:
        try:
            with anyio.fail_after(idle):
                chunk = await stream.__anext__()
        except StopAsyncIteration:
            return
        except TimeoutError:
            raise RequestTimeout("the request body stopped arriving") from None
        yield chunk
