"""Encrypted chunk-row storage on a real database (SQLite and PostgreSQL)."""

from __future__ import annotations

import os
import secrets
import tracemalloc
import uuid
from collections.abc import Iterator
from datetime import date
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import Engine, delete, event, func, select, update
from sqlalchemy.orm import Session

from crypto.age import generate_identity
from crypto.errors import DecryptionError, NoIdentityError
from service.blobs.models import Blob, BlobChunk
from service.blobs.store import ROW_SIZE, BlobWriter, iter_blob, read_blob, write_blob
from service.compartments.models import Compartment
from service.config import Settings
from service.db import make_session_factory
from service.errors import BlobTooLarge, NotFound
from service.tips.models import KeyKind, Tip
from tests.factories import init_instance

IDENTITY, RECIPIENT = generate_identity()
MARKER = b"PLAINTEXT-MARKER-" + secrets.token_hex(16).encode()


@pytest.fixture
def session(engine: Engine, settings: Settings) -> Iterator[Session]:
    init_instance(engine, settings)
    with make_session_factory(engine)() as session:
        yield session


def make_tip(session: Session) -> uuid.UUID:
    """A bare tip row in the oversight compartment, enough for blobs to reference."""
    tip = Tip(
        lookup_id=secrets.token_hex(8),
        reporter_salt=os.urandom(16),
        reporter_recipient=generate_identity()[1],
        conversation_recipient=RECIPIENT,
        case_recipient=RECIPIENT,
        compartment_id=session.scalars(select(Compartment.id)).one(),
        received_on=date.today(),
        reporter_active_on=date.today(),
    )
    session.add(tip)
    session.flush()
    return tip.id


def store(session: Session, data: bytes, tip_id: uuid.UUID | None = None) -> uuid.UUID:
    return write_blob(
        session,
        tip_id=tip_id or make_tip(session),
        key_kind=KeyKind.CONVERSATION,
        recipients=[RECIPIENT],
        data=data,
    )


def rows(session: Session, blob_id: uuid.UUID) -> list[bytes]:
    query = select(BlobChunk.data).where(BlobChunk.blob_id == blob_id).order_by(BlobChunk.seq)
    return list(session.scalars(query))


def test_round_trips_at_row_boundaries(session: Session) -> None:
    tip_id = make_tip(session)
    for size in (0, 1, ROW_SIZE - 1, ROW_SIZE, ROW_SIZE + 1, 3 * ROW_SIZE + 12345):
        data = os.urandom(size)
        blob_id = store(session, data, tip_id)
        blob = session.get_one(Blob, blob_id)
        chunks = rows(session, blob_id)
        assert read_blob(session, blob_id, [IDENTITY]) == data
        assert b"".join(iter_blob(session, blob_id, [IDENTITY])) == data
        assert blob.size == sum(len(c) for c in chunks) > size  # padded and authenticated
        assert blob.chunks == len(chunks) == -(-blob.size // ROW_SIZE)
        assert all(len(c) == ROW_SIZE for c in chunks[:-1])
        assert blob.tip_id == tip_id
        assert blob.key_kind == "conversation"


def test_writer_accepts_pieces_of_any_size_and_counts_plaintext(session: Session) -> None:
    data = os.urandom(2 * ROW_SIZE + 777)
    writer = BlobWriter(session, tip_id=make_tip(session), key_kind="case", recipients=[RECIPIENT])
    for step in (1, 0, 5, 70_000, ROW_SIZE + 3, len(data)):
        offset = writer.plaintext_size
        writer.write(data[offset : offset + step])
    assert writer.plaintext_size == len(data)
    blob_id = writer.close()
    assert read_blob(session, blob_id, [IDENTITY]) == data
    with pytest.raises(RuntimeError):
        writer.write(b"more")


def test_plaintext_is_nowhere_in_the_database(session: Session, engine: Engine) -> None:
    plaintext = MARKER * 100_000  # several rows
    blob_id = store(session, plaintext)
    session.commit()
    chunks = rows(session, blob_id)
    assert len(chunks) > 1
    joined = b"".join(chunks)
    assert MARKER not in joined
    assert all(MARKER[:16] not in chunk for chunk in chunks)
    if engine.dialect.name == "sqlite":
        database = Path(str(engine.url.database))
        for path in (database, database.with_name(database.name + "-wal")):
            if path.exists():
                assert MARKER[:16] not in path.read_bytes()


def test_wrong_identity_cannot_read(session: Session) -> None:
    blob_id = store(session, b"evidence")
    other_identity, _ = generate_identity()
    with pytest.raises(NoIdentityError):
        read_blob(session, blob_id, [other_identity])


def _swap_rows(session: Session, blob_id: uuid.UUID, a: int, b: int) -> None:
    where = BlobChunk.blob_id == blob_id
    session.execute(update(BlobChunk).where(where, BlobChunk.seq == a).values(seq=-1))
    session.execute(update(BlobChunk).where(where, BlobChunk.seq == b).values(seq=a))
    session.execute(update(BlobChunk).where(where, BlobChunk.seq == -1).values(seq=b))


def _delete_row(session: Session, blob_id: uuid.UUID, seq: int, *, recount: bool) -> None:
    session.execute(delete(BlobChunk).where(BlobChunk.blob_id == blob_id, BlobChunk.seq == seq))
    if recount:  # an attacker who also fixes up the blob row
        size = session.scalar(
            select(func.sum(func.length(BlobChunk.data))).where(BlobChunk.blob_id == blob_id)
        )
        last = session.scalar(select(func.count()).where(BlobChunk.blob_id == blob_id))
        session.execute(update(Blob).where(Blob.id == blob_id).values(size=size, chunks=last))


def _zero_row(session: Session, blob_id: uuid.UUID, seq: int) -> None:
    where = (BlobChunk.blob_id == blob_id, BlobChunk.seq == seq)
    session.execute(update(BlobChunk).where(*where).values(data=b"\x00" * ROW_SIZE))


@pytest.mark.parametrize(
    "tamper",
    [
        pytest.param(lambda s, b: _swap_rows(s, b, 0, 1), id="reordered"),
        pytest.param(lambda s, b: _delete_row(s, b, 1, recount=False), id="middle-deleted"),
        pytest.param(lambda s, b: _delete_row(s, b, 2, recount=True), id="truncated"),
        pytest.param(lambda s, b: _zero_row(s, b, 1), id="overwritten"),
    ],
)
def test_tampered_rows_are_detected(session: Session, tamper: Any) -> None:
    blob_id = store(session, os.urandom(2 * ROW_SIZE + 100))
    assert session.get_one(Blob, blob_id).chunks == 3
    tamper(session, blob_id)
    session.expire_all()
    with pytest.raises(DecryptionError):
        read_blob(session, blob_id, [IDENTITY])
    with pytest.raises(DecryptionError):
        for _ in iter_blob(session, blob_id, [IDENTITY]):
            pass


def test_read_blob_enforces_max_size(session: Session) -> None:
    blob_id = store(session, b"x" * 1000)
    assert read_blob(session, blob_id, [IDENTITY], max_size=1000) == b"x" * 1000
    with pytest.raises(BlobTooLarge) as caught:
        read_blob(session, blob_id, [IDENTITY], max_size=999)
    assert caught.value.status == 413


def test_missing_blob_and_unknown_key_kind_are_refused(session: Session) -> None:
    with pytest.raises(NotFound):
        read_blob(session, uuid.uuid4(), [IDENTITY])
    with pytest.raises(ValueError, match="KeyKind"):
        BlobWriter(session, tip_id=make_tip(session), key_kind="bogus", recipients=[RECIPIENT])


def test_reading_fetches_one_row_per_query(session: Session, engine: Engine) -> None:
    blob_id = store(session, os.urandom(3 * ROW_SIZE))
    chunks = session.get_one(Blob, blob_id).chunks
    statements: list[str] = []

    def record(*args: Any) -> None:
        statements.append(args[2])

    event.listen(engine, "before_cursor_execute", record)
    try:
        for _ in iter_blob(session, blob_id, [IDENTITY]):
            pass
    finally:
        event.remove(engine, "before_cursor_execute", record)
    chunk_queries = [s for s in statements if "blob_chunks" in s]
    assert len(chunk_queries) == chunks == 4
    assert all("seq =" in s for s in chunk_queries)


def _peak_writing(session: Session, tip_id: uuid.UUID, pieces: int) -> int:
    piece = os.urandom(256 * 1024)
    tracemalloc.start()
    try:
        writer = BlobWriter(session, tip_id=tip_id, key_kind="conversation", recipients=[RECIPIENT])
        for _ in range(pieces):
            writer.write(piece)
        blob_id = writer.close()
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    assert session.get_one(Blob, blob_id).chunks >= pieces // 4
    return peak


def test_writing_a_large_blob_keeps_memory_bounded(session: Session) -> None:
    tip_id = make_tip(session)
    small = _peak_writing(session, tip_id, 64)  # 16 MiB
    large = _peak_writing(session, tip_id, 192)  # 48 MiB
    # A few rows in flight (PostgreSQL stores one while the next is encrypted), whatever the size.
    assert small < 10 * ROW_SIZE, small
    assert large < small + ROW_SIZE, (small, large)
