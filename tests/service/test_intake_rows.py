"""The intake fast path (service.tips.intake_rows) writes exactly what the ORM would.

A real tip, with a contact and a file, is stored by intake; its staged rows are captured on the
way. Rolled back, the same rows are then stored as ORM objects through the unit of work (mapper
hooks, Python-side defaults and all). Every column of every row read back must be the same.
"""

from __future__ import annotations

import uuid
from pathlib import Path
from typing import Any, cast

import pytest
from sqlalchemy import Engine, Table, select
from sqlalchemy.orm import Session

from service.blobs.models import Blob, BlobChunk
from service.config import Settings
from service.db import Base, make_session_factory
from service.instance.context import load_context
from service.tips import intake, intake_rows
from service.tips.intake_rows import INSERT_ORDER, TipRows
from service.tips.models import Attachment, Envelope, SubjectIndex, SubjectToken, Tip, TipAudience
from service.tips.schemas import TipSubmission
from tests.factories import Border, seed_border, tip_json

Rows = dict[str, list[tuple[tuple[str, Any], ...]]]
_BY_TIP = (Envelope, TipAudience, SubjectIndex, SubjectToken, Blob, Attachment)


@pytest.fixture
def border(engine: Engine, settings: Settings) -> Border:
    return seed_border(engine, settings)


class _Captured:
    """What intake handed to the fast path."""

    def __init__(self) -> None:
        self.tip_rows: list[TipRows] = []
        self.attachments: list[dict[str, object]] = []


def _capture(monkeypatch: pytest.MonkeyPatch) -> _Captured:
    captured = _Captured()
    insert_tip = TipRows.insert
    insert_files = intake_rows.insert_attachments

    def record_tip(rows: TipRows, session: Session) -> None:
        captured.tip_rows.append(rows)
        insert_tip(rows, session)

    def record_files(session: Session, rows: list[dict[str, object]]) -> None:
        captured.attachments += rows
        insert_files(session, rows)

    monkeypatch.setattr(TipRows, "insert", record_tip)
    monkeypatch.setattr("service.tips.attachments.insert_attachments", record_files)
    return captured


def _read_back(session: Session, tip_id: uuid.UUID) -> Rows:
    """Every column of every row of the tip, in a stable order."""
    blobs = select(Blob.id).where(Blob.tip_id == tip_id)
    wheres = {"tips": Tip.id == tip_id, "blob_chunks": BlobChunk.blob_id.in_(blobs)}
    found: Rows = {}
    for model in (Tip, *_BY_TIP, BlobChunk):
        table = cast(Table, model.__table__)
        where = wheres[table.name] if table.name in wheres else table.c.tip_id == tip_id
        rows = session.execute(select(table).where(where)).mappings().all()
        found[table.name] = sorted(tuple(sorted(dict(r).items())) for r in rows)
    return found


def _store_with_the_orm(session: Session, captured: _Captured, spooled: Rows) -> None:
    """The captured rows as ORM objects; the spooled files' blobs from what was read back."""
    (rows,) = captured.tip_rows
    session.add(Tip(**rows.tip))
    session.flush()
    for model in INSERT_ORDER[1:]:
        session.add_all(model(**row) for row in rows.staged[model])
    staged = {row["id"] for row in rows.staged[Blob]}
    files = [dict(r) for r in spooled["blobs"] if dict(r)["id"] not in staged]
    chunks = [dict(r) for r in spooled["blob_chunks"] if dict(r)["blob_id"] not in staged]
    assert files, "the file's blobs were not read back"
    session.add_all(Blob(**row) for row in files)
    session.flush()
    session.add_all(BlobChunk(**row) for row in chunks)
    session.flush()
    session.add_all(Attachment(**row) for row in captured.attachments)
    session.flush()


def _columns(model: type[Base]) -> set[str]:
    table = model.__table__
    assert isinstance(table, Table)
    return set(table.columns.keys())


def test_intake_rows_write_what_the_orm_would_write(
    engine: Engine,
    settings: Settings,
    border: Border,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    captured = _capture(monkeypatch)
    submission = TipSubmission.model_validate(tip_json(contact="signal: +1 555 0100"))
    with make_session_factory(engine)() as session:
        ctx = load_context(session, settings)
        pending = intake.begin_tip(session, ctx, submission, spool_dir=tmp_path)
        writer = pending.add_attachment("notes.txt")
        writer.write(b"the ledger is in the second drawer\n" * 100)
        writer.close()
        tip_id = pending.finish().tip_id
        assert tip_id is not None
        fast = _read_back(session, tip_id)
        session.rollback()
        assert _read_back(session, tip_id)["tips"] == []
        _store_with_the_orm(session, captured, fast)
        orm = _read_back(session, tip_id)
        session.rollback()
    for table in (
        "tips",
        "envelopes",
        "tip_audience",
        "subject_indexes",
        "subject_tokens",
        "blobs",
        "blob_chunks",
        "attachments",
    ):
        assert fast.get(table, []), f"the tip wrote no {table} rows: the test proves nothing"
    assert set(fast) == set(orm)
    for table, rows in fast.items():
        assert rows == orm[table], f"{table} differs between the fast path and the ORM"
    # Every column of the tip row was read back, so none escaped the comparison.
    assert {name for name, _ in fast["tips"][0]} == _columns(Tip)
