"""Write and read age files as chunk rows, streaming both ways.

A blob is one age file (`crypto.age`, Padmé-padded by default) cut into `ROW_SIZE` pieces of
ciphertext, stored in `blob_chunks` in order of `seq`. Writing holds a few rows of ciphertext in
memory whatever the file size (on PostgreSQL rows are pipelined: the database stores one while the
next is encrypted), or hands them to a `ChunkSpool` for a later transaction (uploads); reading
fetches one row at a time. Rows go in through SQLAlchemy Core, never as
ORM objects, so the session's identity map does not keep every chunk alive.

Integrity comes from age itself: a missing, reordered, altered or truncated row fails
authentication, raised as `crypto.errors.DecryptionError` (also when it breaks the header or the
padding). `iter_blob` yields plaintext before the end is verified, so its caller must discard what
it received if the iteration raises; `read_blob` returns only verified data.

Imports `crypto` and `service` only.
"""

from __future__ import annotations

import uuid
from collections.abc import Iterator, Sequence
from typing import cast

from sqlalchemy import Table, insert, select, update
from sqlalchemy.orm import Session

from crypto.age import Decryptor, Encryptor, encrypt_bytes
from crypto.errors import DecryptionError, FormatError
from service.blobs.models import Blob, BlobChunk
from service.blobs.pipeline import PipelinedWrites
from service.blobs.spool import ChunkSpool
from service.db import new_id
from service.errors import BlobTooLarge, NotFound
from service.tips.models import KeyKind

__all__ = [
    "ROW_SIZE",
    "BlobWriter",
    "iter_blob",
    "read_blob",
    "small_blob_rows",
    "write_blob",
]

ROW_SIZE = 1 << 20  # ciphertext bytes per BlobChunk row
_INSERT_CHUNK = cast(Table, BlobChunk.__table__).insert()  # Core: no ORM bulk machinery per row
_PIECE = 256 * 1024  # large writes are encrypted in pieces, so output never balloons


class _SessionRows:
    """`BlobWriter`'s rows straight into an open transaction."""

    def __init__(self, session: Session, *, pipeline: bool) -> None:
        self._session = session
        self._pipeline = pipeline
        self._rows: PipelinedWrites | None = None
        self._seq = 0

    def begin_blob(self, row: dict[str, object]) -> None:
        self._session.execute(insert(Blob).values(**row))
        # Rows go out while the next one is encrypted.
        self._rows = PipelinedWrites(self._session) if self._pipeline else None

    def add_chunk(self, blob_id: uuid.UUID, data: bytes) -> None:
        self._session.execute(_INSERT_CHUNK, {"blob_id": blob_id, "seq": self._seq, "data": data})
        self._seq += 1

    def end_blob(self, blob_id: uuid.UUID, *, size: int, chunks: int) -> None:
        if self._rows is not None:
            self._rows.end()
        self._session.execute(
            update(Blob).where(Blob.id == blob_id).values(size=size, chunks=chunks)
        )


class BlobWriter:
    """Encrypt a stream into a new blob: `write()` pieces of any size, then `close()`.

    Rows go into `target`: a session, where the Blob row is inserted at construction (so chunk
    rows can reference it) and completed by `close()`, nothing committed here; or a
    `ChunkSpool`, which keeps them for a later transaction (uploads, service.tips.uploads).
    """

    def __init__(
        self,
        target: Session | ChunkSpool,
        *,
        tip_id: uuid.UUID,
        key_kind: str,
        recipients: Sequence[str],
        pad: bool = True,
        pipeline: bool = True,
    ) -> None:
        """`pipeline=False` for a second writer open beside a first on the same session: one
        pipeline per connection, whose statements both writers' rows join."""
        kind = KeyKind(key_kind).value  # ValueError for an unknown kind, before any row exists
        self._rows = (
            target if isinstance(target, ChunkSpool) else _SessionRows(target, pipeline=pipeline)
        )
        self._encryptor = Encryptor(recipients, pad=pad)
        self._buf = bytearray()
        self._seq = 0
        self._size = 0
        self._plaintext_size = 0
        self._closed = False
        self.blob_id = new_id()
        self._rows.begin_blob(
            {"id": self.blob_id, "tip_id": tip_id, "key_kind": kind, "size": 0, "chunks": 0}
        )
        self._buf += self._encryptor.start()

    @property
    def plaintext_size(self) -> int:
        """Bytes written so far, before padding and encryption."""
        return self._plaintext_size

    def write(self, data: bytes) -> None:
        if self._closed:
            raise RuntimeError("blob writer already closed")
        view = memoryview(data)
        for start in range(0, len(view), _PIECE):
            piece = view[start : start + _PIECE]
            self._plaintext_size += len(piece)
            self._buf += self._encryptor.update(bytes(piece))
            self._flush_full_rows()

    def close(self) -> uuid.UUID:
        """Finish the age file, store the last row and record size and row count; returns the id."""
        if self._closed:
            raise RuntimeError("blob writer already closed")
        self._closed = True
        for piece in self._encryptor.finish_pieces():  # padding arrives in bounded pieces
            self._buf += piece
            self._flush_full_rows()
        if self._buf:
            self._insert_row(bytes(self._buf))
            self._buf.clear()
        self._rows.end_blob(self.blob_id, size=self._size, chunks=self._seq)
        return self.blob_id

    def _flush_full_rows(self) -> None:
        while len(self._buf) >= ROW_SIZE:
            with memoryview(self._buf) as view:
                row = bytes(view[:ROW_SIZE])  # one copy, not a bytearray slice and then bytes
            del self._buf[:ROW_SIZE]
            self._insert_row(row)

    def _insert_row(self, data: bytes) -> None:
        self._rows.add_chunk(self.blob_id, data)
        self._seq += 1
        self._size += len(data)


def write_blob(
    session: Session,
    *,
    tip_id: uuid.UUID,
    key_kind: str,
    recipients: Sequence[str],
    data: bytes,
    pad: bool = True,
) -> uuid.UUID:
    """Encrypt `data` into a new blob; returns its id."""
    if len(data) > ROW_SIZE // 2:
        writer = BlobWriter(
            session, tip_id=tip_id, key_kind=key_kind, recipients=recipients, pad=pad
        )
        writer.write(data)
        return writer.close()
    # Small payloads (every text field) fit one row: two statements instead of three or more.
    blob_id, blob, chunk = small_blob_rows(
        tip_id=tip_id, key_kind=key_kind, recipients=recipients, data=data, pad=pad
    )
    session.execute(insert(Blob), [blob])
    session.execute(insert(BlobChunk), [chunk])
    return blob_id


def small_blob_rows(
    *, tip_id: uuid.UUID, key_kind: str, recipients: Sequence[str], data: bytes, pad: bool = True
) -> tuple[uuid.UUID, dict[str, object], dict[str, object]]:
    """Encrypt a small payload into one Blob row and one chunk row, for the caller to insert
    (intake batches all of a tip's rows into one statement per table)."""
    if len(data) > ROW_SIZE // 2:
        raise ValueError("small_blob_rows is for payloads that fit one row")
    ciphertext = encrypt_bytes(data, recipients, pad=pad)
    blob_id = new_id()
    blob: dict[str, object] = {
        "id": blob_id,
        "tip_id": tip_id,
        "key_kind": KeyKind(key_kind).value,
        "size": len(ciphertext),
        "chunks": 1,
    }
    return blob_id, blob, {"blob_id": blob_id, "seq": 0, "data": ciphertext}


def iter_blob(
    session: Session, blob_id: uuid.UUID, identities: Sequence[str], *, pad: bool = True
) -> Iterator[bytes]:
    """Decrypt a blob row by row. Output is unverified until the iteration ends without error."""
    row = session.execute(select(Blob.size, Blob.chunks).where(Blob.id == blob_id)).one_or_none()
    if row is None:
        raise NotFound("no such blob")
    size, chunks = row
    decryptor = Decryptor(identities, pad=pad)
    seen = 0
    try:
        for seq in range(chunks):
            data = session.execute(
                select(BlobChunk.data).where(BlobChunk.blob_id == blob_id, BlobChunk.seq == seq)
            ).scalar_one_or_none()
            if data is None:
                raise DecryptionError("blob truncated: a chunk row is missing")
            seen += len(data)
            yield from decryptor.update_pieces(data)
        if seen != size:
            raise DecryptionError("blob size does not match its chunk rows")
        yield from decryptor.finish_pieces()
    except FormatError:
        # A moved or altered first row breaks the header, bad padding the end: tampering either way.
        raise DecryptionError("blob is corrupt") from None


def read_blob(
    session: Session,
    blob_id: uuid.UUID,
    identities: Sequence[str],
    *,
    pad: bool = True,
    max_size: int = 16 << 20,
) -> bytes:
    """The verified plaintext of a small blob; BlobTooLarge once it would exceed `max_size`."""
    out = bytearray()
    for piece in iter_blob(session, blob_id, identities, pad=pad):
        if len(out) + len(piece) > max_size:
            raise BlobTooLarge("blob exceeds the read limit")
        out += piece
    return bytes(out)
