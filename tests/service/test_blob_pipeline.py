"""The blob fast path (service.blobs.pipeline): PostgreSQL pipeline mode, held open across
thread hops, writes exactly the rows the ORM would; and its connection hygiene."""

from __future__ import annotations

import threading
import uuid
from collections.abc import Iterator
from contextlib import suppress

import pytest
from sqlalchemy import Engine, select, text
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from crypto.age import encrypt_bytes
from service.blobs.models import Blob, BlobChunk
from service.blobs.pipeline import PipelinedWrites, pipelined
from service.blobs.store import ROW_SIZE, BlobWriter, read_blob
from service.config import Settings
from service.db import make_engine, make_session_factory
from service.tips.models import KeyKind
from tests.factories import init_instance
from tests.service.test_blobs import IDENTITY, RECIPIENT, make_tip

insert_many = text("INSERT INTO piped (k, v) VALUES (:k, 'y')")
DATA = bytes(range(256)) * (ROW_SIZE * 5 // 2 // 256)  # two and a half rows of plaintext


@pytest.fixture
def session(engine: Engine, settings: Settings) -> Iterator[Session]:
    init_instance(engine, settings)
    with make_session_factory(engine)() as session:
        yield session


def _in_another_thread(work: object, *args: object) -> None:
    thread = threading.Thread(target=work, args=args)  # type: ignore[arg-type]
    thread.start()
    thread.join()


def _pipelined_blob(session: Session, tip_id: uuid.UUID) -> uuid.UUID:
    """As an upload writes: each piece from another worker thread, the pipeline open between."""
    writer = BlobWriter(session, tip_id=tip_id, key_kind=KeyKind.CASE, recipients=[RECIPIENT])
    third = len(DATA) // 3
    for start in range(0, len(DATA), third):
        _in_another_thread(writer.write, DATA[start : start + third])
    return writer.close()


def _orm_blob(session: Session, tip_id: uuid.UUID) -> uuid.UUID:
    """The plain way: the same file as ORM objects."""
    ciphertext = encrypt_bytes(DATA, [RECIPIENT], pad=True)
    rows = [ciphertext[at : at + ROW_SIZE] for at in range(0, len(ciphertext), ROW_SIZE)]
    blob = Blob(tip_id=tip_id, key_kind=KeyKind.CASE.value, size=len(ciphertext), chunks=len(rows))
    session.add(blob)
    session.flush()
    session.add_all(BlobChunk(blob_id=blob.id, seq=seq, data=row) for seq, row in enumerate(rows))
    session.flush()
    return blob.id


def _stored(
    session: Session, blob_id: uuid.UUID
) -> tuple[tuple[object, ...], list[tuple[int, int]], bool]:
    """What the database holds for the blob, but for random ids and random key material:
    ciphertext differs between two encryptions, its layout and its plaintext must not."""
    blob = session.execute(
        select(Blob.tip_id, Blob.key_kind, Blob.size, Blob.chunks).where(Blob.id == blob_id)
    ).one()
    chunks = session.execute(
        select(BlobChunk.seq, BlobChunk.data).where(BlobChunk.blob_id == blob_id)
    ).all()
    layout = sorted((seq, len(data)) for seq, data in chunks)
    return tuple(blob), layout, read_blob(session, blob_id, [IDENTITY]) == DATA


def test_pipelined_blob_rows_are_the_rows_the_orm_would_write(session: Session) -> None:
    tip_id = make_tip(session)
    fast, plain = _pipelined_blob(session, tip_id), _orm_blob(session, tip_id)
    session.commit()
    session.expunge_all()
    stored = _stored(session, fast)
    assert stored == _stored(session, plain)
    _, layout, decrypts = stored
    assert len(layout) >= 3  # several rows, so several statements in flight
    assert decrypts is True


def _table(engine: Engine) -> None:
    with engine.begin() as conn:
        conn.execute(text("CREATE TABLE piped (k INTEGER PRIMARY KEY, v VARCHAR(10))"))


def test_pipelined_writes_land_and_commit(empty_engine: Engine) -> None:
    _table(empty_engine)
    with Session(empty_engine) as session:
        with pipelined(session):
            for k in range(5):
                session.execute(text("INSERT INTO piped VALUES (:k, 'x')"), {"k": k})
            session.execute(insert_many, [{"k": k} for k in range(5, 9)])
        session.commit()
    with empty_engine.connect() as conn:
        assert conn.execute(text("SELECT count(*) FROM piped")).scalar() == 9


def _insert_in_pipeline(session: Session, rows: list[tuple[int, str]]) -> None:
    with pipelined(session):
        for k, v in rows:
            session.execute(text("INSERT INTO piped VALUES (:k, :v)"), {"k": k, "v": v})


def test_an_error_in_a_pipelined_block_is_a_sqlalchemy_error_and_nothing_lands(
    empty_engine: Engine,
) -> None:
    _table(empty_engine)
    with Session(empty_engine) as session:
        with pytest.raises(IntegrityError):
            _insert_in_pipeline(session, [(1, "a"), (1, "b"), (2, "c")])  # 1 twice
        session.rollback()
        session.execute(text("INSERT INTO piped VALUES (3, 'd')"))  # the session still works
        session.commit()
    with empty_engine.connect() as conn:
        assert conn.execute(text("SELECT k FROM piped")).scalars().all() == [3]


def _driver_in_pipeline(session: Session) -> bool:
    driver = session.connection().connection.driver_connection
    return getattr(driver, "_pipeline", None) is not None


@pytest.mark.parametrize("fails", [False, True])
def test_a_pipeline_left_open_is_ended_before_the_connection_is_reused(
    empty_database_url: str, fails: bool
) -> None:
    engine = make_engine(empty_database_url, pool_size=1, max_overflow=0)
    _table(engine)
    factory = make_session_factory(engine)
    with factory() as session:
        writes = PipelinedWrites(session)
        session.execute(text("INSERT INTO piped VALUES (1, 'a')"))
        if fails:  # PostgreSQL: fails unseen until the pipeline syncs; SQLite: at once
            with suppress(IntegrityError):
                session.execute(text("INSERT INTO piped VALUES (1, 'b')"))
        # The request fails here: `end()` is never called.
        del writes
        session.rollback()
    with factory() as session:  # the same (only) connection
        assert not _driver_in_pipeline(session)
        with pytest.raises(IntegrityError):  # errors are immediate again, not deferred
            session.execute(text("INSERT INTO piped VALUES (2, 'x'), (2, 'y')"))
        session.rollback()
        session.execute(text("INSERT INTO piped VALUES (3, 'c')"))
        session.commit()
    with engine.connect() as conn:
        assert conn.execute(text("SELECT k FROM piped")).scalars().all() == [3]
    engine.dispose()


def _write_twice_and_end(session: Session) -> None:
    writes = PipelinedWrites(session)
    session.execute(text("INSERT INTO piped VALUES (1, 'a')"))
    session.execute(text("INSERT INTO piped VALUES (1, 'b')"))  # PostgreSQL: seen only at end()
    writes.end()


def test_pipelined_writes_raise_the_first_error_by_their_end(empty_engine: Engine) -> None:
    _table(empty_engine)
    with Session(empty_engine) as session:
        with pytest.raises(IntegrityError):
            _write_twice_and_end(session)
        session.rollback()
        assert not _driver_in_pipeline(session)
