"""Chunk rows staged in a temporary file while an upload streams, inserted later in one short
transaction (service.tips.receiving): a slow client then holds no lock and no connection.

Only ciphertext reaches the file: `BlobWriter` encrypts before it hands a row over. The file is
created 0600 in the given directory (the data directory) and unlinked at once, so nothing is
left behind if the process dies; `close()` frees it earlier. Blob rows, small and few, stay in
memory; a chunk is read back one row at a time when inserted, so memory stays bounded.

The directory also holds the database: `keep_free(directory, nbytes)` (set by the server from
its storage reserve) makes a spool refuse, with 507, a row that would leave less free space than
that, so uploads in flight never take the room the database's own writes need.

Imports `service` only.
"""

from __future__ import annotations

import errno
import os
import tempfile
import uuid
from pathlib import Path
from types import TracebackType
from typing import IO, cast

from sqlalchemy import Table
from sqlalchemy.orm import Session

from service.blobs.models import Blob, BlobChunk
from service.blobs.pipeline import pipelined
from service.errors import InsufficientStorage

__all__ = ["ChunkSpool", "keep_free"]

_INSERT_BLOB = cast(Table, Blob.__table__).insert()
_INSERT_CHUNK = cast(Table, BlobChunk.__table__).insert()
_KEEP_FREE: dict[Path, int] = {}  # by resolved directory: free bytes spools must leave


def keep_free(directory: Path, nbytes: int) -> None:
    """Spools in `directory` leave at least `nbytes` free on its filesystem."""
    _KEEP_FREE[directory.resolve()] = nbytes


class ChunkSpool:
    """Blobs and their ciphertext rows, kept until `insert_into` a session (repeatable)."""

    def __init__(self, directory: Path | None = None) -> None:
        if directory is not None:
            directory.mkdir(parents=True, exist_ok=True, mode=0o700)
        # mkstemp's 0600 file, unlinked before we write (O_TMPFILE on Linux: never named).
        self._file: IO[bytes] = tempfile.TemporaryFile(dir=directory, buffering=0)
        self._floor = _KEEP_FREE.get(directory.resolve(), 0) if directory is not None else 0
        self._end = 0
        self._blobs: dict[uuid.UUID, dict[str, object]] = {}
        self._chunks: dict[uuid.UUID, list[tuple[int, int]]] = {}  # (offset, length) by seq

    @property
    def size(self) -> int:
        """Bytes written to the file so far (dropped blobs included)."""
        return self._end

    def begin_blob(self, row: dict[str, object]) -> None:
        blob_id = cast(uuid.UUID, row["id"])
        self._blobs[blob_id] = dict(row)
        self._chunks[blob_id] = []

    def add_chunk(self, blob_id: uuid.UUID, data: bytes) -> None:
        self._chunks[blob_id].append(self._append(data))

    def end_blob(self, blob_id: uuid.UUID, *, size: int, chunks: int) -> None:
        self._blobs[blob_id].update(size=size, chunks=chunks)

    def first_chunk(self, blob_id: uuid.UUID) -> bytes:
        return self._read(*self._chunks[blob_id][0])

    def replace_first_chunk(self, blob_id: uuid.UUID, data: bytes) -> None:
        """A new first row (a rewrapped age header): the blob's size follows."""
        places = self._chunks[blob_id]
        old = places[0][1]
        places[0] = self._append(data)
        blob = self._blobs[blob_id]
        blob["size"] = cast(int, blob["size"]) + len(data) - old

    def drop_blob(self, blob_id: uuid.UUID) -> None:
        """Forget a blob; its bytes stay in the file (ciphertext) until `close`."""
        del self._blobs[blob_id]
        del self._chunks[blob_id]

    def insert_into(self, session: Session) -> None:
        """Insert every blob, then its rows in order (pipelined on PostgreSQL)."""
        with pipelined(session):
            if self._blobs:
                session.execute(_INSERT_BLOB, list(self._blobs.values()))
            for blob_id, places in self._chunks.items():
                for seq, place in enumerate(places):
                    row = {"blob_id": blob_id, "seq": seq, "data": self._read(*place)}
                    session.execute(_INSERT_CHUNK, row)

    def close(self) -> None:
        self._file.close()

    def __enter__(self) -> ChunkSpool:
        return self

    def __exit__(
        self, kind: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        self.close()

    def _append(self, data: bytes) -> tuple[int, int]:
        place = (self._end, len(data))
        try:
            if self._floor:
                room = os.fstatvfs(self._file.fileno())
                if room.f_bavail * room.f_frsize - len(data) < self._floor:
                    raise OSError(errno.ENOSPC, "kept free for the database")
            with memoryview(data) as view:
                done = 0
                while done < len(view):  # unbuffered: a full disk fails here, not later
                    done += os.pwrite(self._file.fileno(), view[done:], self._end + done)
        except OSError as exc:
            if exc.errno in (errno.ENOSPC, errno.EDQUOT):
                raise InsufficientStorage(
                    "the server's storage is full; nothing was stored"
                ) from None
            raise
        self._end += len(data)
        return place

    def _read(self, offset: int, length: int) -> bytes:
        data = os.pread(self._file.fileno(), length, offset)
        if len(data) != length:
            raise OSError("the upload spool lost data")
        return data
