"""PostgreSQL faults for tests: a TCP proxy that can stall or refuse, and terminated backends.

`FaultyProxy` sits between the app and PostgreSQL. `stall()` makes it a silent network: it keeps
accepting connections and bytes but forwards nothing, the way a dead NAT entry or a hung load
balancer behaves (no RST, no FIN). `refuse()` closes every connection and the listening socket, as
a stopped server does; `resume()` returns to normal forwarding.
"""

from __future__ import annotations

import socket
import threading
from collections.abc import Callable, Iterator
from contextlib import contextmanager, suppress

from sqlalchemy import create_engine
from sqlalchemy.engine import make_url

from service.db import normalise_url

__all__ = ["FaultyProxy", "backend_terminator", "faulty_proxy"]


class FaultyProxy:
    def __init__(self, upstream: tuple[str, int]) -> None:
        self.upstream = upstream
        self._forwarding = threading.Event()
        self._forwarding.set()
        self._lock = threading.Lock()
        self._sockets: set[socket.socket] = set()
        self._listener: socket.socket | None = None
        self.port = self._listen(0)

    def _listen(self, port: int) -> int:
        listener = socket.socket()
        try:
            listener.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
            listener.bind(("127.0.0.1", port))
            listener.listen(64)
        except OSError:
            listener.close()
            raise
        self._listener = listener
        threading.Thread(target=self._accept, args=(listener,), daemon=True).start()
        return int(listener.getsockname()[1])

    def url_for(self, database_url: str) -> str:
        """`database_url` (pointing at the upstream server) rewritten to go through the proxy."""
        url = make_url(normalise_url(database_url)).set(host="127.0.0.1", port=self.port)
        return url.render_as_string(hide_password=False)

    def stall(self) -> None:
        self._forwarding.clear()

    def refuse(self) -> None:
        """Close the listener and every open connection: new connections are refused."""
        with self._lock:
            listener, self._listener = self._listener, None
            if listener is not None:
                with suppress(OSError):  # wakes the thread blocked in accept()
                    listener.shutdown(socket.SHUT_RDWR)
                listener.close()
            self._close_all()

    def resume(self) -> None:
        with self._lock:
            if self._listener is None:
                self._listen(self.port)
        self._forwarding.set()

    def close(self) -> None:
        self.refuse()
        self._forwarding.set()  # lets any waiting pump see its closed sockets and end

    def _close_all(self) -> None:
        for sock in list(self._sockets):
            with suppress(OSError):
                sock.shutdown(socket.SHUT_RDWR)
            sock.close()
        self._sockets.clear()

    def _accept(self, listener: socket.socket) -> None:
        while True:
            try:
                client, _ = listener.accept()
            except OSError:
                return  # closed by refuse()
            try:
                server = socket.create_connection(self.upstream)
            except OSError:
                client.close()
                continue
            with self._lock:
                self._sockets.update((client, server))
            for src, dst in ((client, server), (server, client)):
                threading.Thread(target=self._pump, args=(src, dst), daemon=True).start()

    def _pump(self, src: socket.socket, dst: socket.socket) -> None:
        try:
            while data := src.recv(65536):
                self._forwarding.wait()  # stalled: the bytes were accepted, and go nowhere
                dst.sendall(data)
        except OSError:
            pass
        # One side is done: end the pair (PostgreSQL has no use for half-closed connections).
        with self._lock:
            for sock in (src, dst):
                with suppress(OSError):  # wakes the other direction's thread
                    sock.shutdown(socket.SHUT_RDWR)
                sock.close()
                self._sockets.discard(sock)


@contextmanager
def faulty_proxy(database_url: str) -> Iterator[FaultyProxy]:
    url = make_url(normalise_url(database_url))
    proxy = FaultyProxy((url.host or "127.0.0.1", url.port or 5432))
    try:
        yield proxy
    finally:
        proxy.close()


@contextmanager
def backend_terminator(database_url: str) -> Iterator[Callable[[], int]]:
    """A function that `pg_terminate_backend`s every connection to `database_url`'s database
    (and no other database's) and returns how many it ended; it works from one connection to the
    `postgres` database, so it can be called often."""
    url = make_url(normalise_url(database_url))
    admin = create_engine(url.set(database="postgres"), isolation_level="AUTOCOMMIT")
    conn = admin.connect()

    def terminate() -> int:
        result = conn.exec_driver_sql(
            "SELECT count(pg_terminate_backend(pid)) FROM pg_stat_activity "
            "WHERE datname = %s AND pid <> pg_backend_pid()",
            (url.database,),
        )
        return int(result.scalar_one())

    try:
        yield terminate
    finally:
        conn.close()
        admin.dispose()
