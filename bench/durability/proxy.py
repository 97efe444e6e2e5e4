"""A TCP proxy on 127.0.0.1 between the service and its database that misbehaves on demand:
`stall()` keeps every connection open and accepts new ones but forwards nothing (a silent
network stall), `refuse()` drops every connection and stops listening (connection refused),
`resume()` forwards again. Runs its own asyncio loop in a daemon thread.
"""

from __future__ import annotations

import asyncio
import contextlib
import threading
from collections.abc import Coroutine
from typing import Any

__all__ = ["FaultProxy"]

_CHUNK = 64 << 10


class FaultProxy:
    def __init__(self, target_host: str, target_port: int) -> None:
        self.target = (target_host, target_port)
        self.port = 0
        self.connections = 0
        self._loop = asyncio.new_event_loop()
        self._thread = threading.Thread(target=self._loop.run_forever, daemon=True)
        self._server: asyncio.Server | None = None
        self._flowing = asyncio.Event()
        self._writers: set[asyncio.StreamWriter] = set()

    def _call(self, coro: Coroutine[Any, Any, None]) -> None:
        """Run `coro` on the proxy's loop and wait for it."""
        asyncio.run_coroutine_threadsafe(coro, self._loop).result(timeout=10)

    def start(self) -> int:
        """Listen (on a free port the first time) and forward; returns the port."""
        self._thread.start()
        self._call(self._listen())
        self._loop.call_soon_threadsafe(self._flowing.set)
        return self.port

    def stall(self) -> None:
        self._loop.call_soon_threadsafe(self._flowing.clear)

    def resume(self) -> None:
        if self._server is None:
            self._call(self._listen())
        self._loop.call_soon_threadsafe(self._flowing.set)

    def refuse(self) -> None:
        self._call(self._close_all())

    def close(self) -> None:
        if self._thread.is_alive():
            self._call(self._close_all())
            self._loop.call_soon_threadsafe(self._loop.stop)
            self._thread.join(timeout=10)
        if not self._loop.is_running():
            self._loop.close()

    async def _listen(self) -> None:
        self._server = await asyncio.start_server(self._accept, "127.0.0.1", self.port)
        self.port = self._server.sockets[0].getsockname()[1]

    async def _close_all(self) -> None:
        if self._server is not None:
            self._server.close()
            self._server = None
        for writer in list(self._writers):
            writer.transport.abort()
        self._writers.clear()

    async def _accept(self, client_r: asyncio.StreamReader, client_w: asyncio.StreamWriter) -> None:
        self.connections += 1
        self._writers.add(client_w)
        try:
            await self._flowing.wait()  # a stalled network never completes the handshake
            server_r, server_w = await asyncio.open_connection(*self.target)
        except OSError:
            self._drop(client_w)
            return
        self._writers.add(server_w)
        await asyncio.gather(self._pump(client_r, server_w), self._pump(server_r, client_w))
        self._drop(client_w)
        self._drop(server_w)

    async def _pump(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        with contextlib.suppress(OSError, asyncio.IncompleteReadError):
            while data := await reader.read(_CHUNK):
                await self._flowing.wait()  # held, not dropped, while stalled
                writer.write(data)
                await writer.drain()
        if not writer.transport.is_closing():
            with contextlib.suppress(OSError, RuntimeError):
                writer.write_eof()

    def _drop(self, writer: asyncio.StreamWriter) -> None:
        self._writers.discard(writer)
        writer.transport.abort()
