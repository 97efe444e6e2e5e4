"""The upload spool (service.blobs.spool) stores exactly what writing straight into the
session would, and keeps only ciphertext, in a private file nobody can open by name."""

from __future__ import annotations

import os
import stat
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest
from sqlalchemy import Engine, select
from sqlalchemy.orm import Session

from service.blobs.models import Blob, BlobChunk
from service.blobs.spool import ChunkSpool
from service.blobs.store import ROW_SIZE, BlobWriter, read_blob
from service.config import Settings
from service.db import make_session_factory
from tests.factories import init_instance
from tests.service.test_blobs import IDENTITY, MARKER, RECIPIENT, make_tip


@pytest.fixture
def session(engine: Engine, settings: Settings) -> Iterator[Session]:
    init_instance(engine, settings)
    with make_session_factory(engine)() as session:
        yield session


def shape(session: Session, blob_id: object) -> tuple[int, int, list[int]]:
    blob = session.get_one(Blob, blob_id)
    rows = session.scalars(
        select(BlobChunk.data).where(BlobChunk.blob_id == blob_id).order_by(BlobChunk.seq)
    ).all()
    return blob.size, blob.chunks, [len(r) for r in rows]


def test_a_spooled_blob_is_stored_as_a_direct_one_would_be(
    session: Session, tmp_path: Path
) -> None:
    tip_id = make_tip(session)
    data = MARKER * ((2 * ROW_SIZE + 12345) // len(MARKER))
    direct = BlobWriter(session, tip_id=tip_id, key_kind="conversation", recipients=[RECIPIENT])
    direct.write(data)
    direct_id = direct.close()
    with ChunkSpool(tmp_path / "spool") as spool:
        spooled = BlobWriter(spool, tip_id=tip_id, key_kind="conversation", recipients=[RECIPIENT])
        for start in range(0, len(data), 100_000):
            spooled.write(data[start : start + 100_000])
        spooled_id = spooled.close()
        spool.insert_into(session)
    session.flush()
    assert shape(session, spooled_id) == shape(session, direct_id)
    assert read_blob(session, spooled_id, [IDENTITY], max_size=len(data)) == data


def test_the_spool_is_an_unlinked_private_file_of_ciphertext(tmp_path: Path) -> None:
    directory = tmp_path / "data"
    with ChunkSpool(directory) as spool:
        writer = BlobWriter(spool, tip_id=uuid.uuid4(), key_kind="case", recipients=[RECIPIENT])
        writer.write(MARKER * 1000)
        writer.close()
        fd = spool._file.fileno()
        info = os.fstat(fd)
        assert stat.S_IMODE(info.st_mode) == 0o600
        assert info.st_nlink == 0  # no name: gone with the process
        assert list(directory.iterdir()) == []
        with open(f"/proc/self/fd/{fd}", "rb") as raw:
            held = raw.read()
        assert spool.size == len(held) > len(MARKER) * 1000
        assert MARKER not in held
    assert stat.S_IMODE(directory.stat().st_mode) == 0o700
