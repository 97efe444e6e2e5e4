"""An approved purge destroys a tip's keys and its ciphertext: gone from the tables on both
backends, and on SQLite not left behind in the database file or its WAL either."""

from __future__ import annotations

import uuid
from pathlib import Path

from fastapi.testclient import TestClient
from sqlalchemy import Engine, func, select

from service.blobs.models import Blob, BlobChunk
from service.config import Settings
from service.db import make_session_factory
from service.retention.sweep import purge_job
from service.tips.models import Envelope, Message, Tip
from tests.factories import Border, tip_json
from tests.staff_util import api_login


def _on_disk(engine: Engine) -> bytes:
    database = Path(str(engine.url.database))
    wal = Path(f"{database}-wal")
    return b"".join(p.read_bytes() for p in (database, wal) if p.exists())


def test_an_approved_purge_leaves_no_key_and_no_ciphertext(
    web: TestClient, engine: Engine, settings: Settings, border: Border
) -> None:
    assert web.post("/api/v1/tips", json=tip_json()).status_code == 201
    ana, sam = api_login(web, border.reviewer_us), api_login(web, border.supervisor_us)
    tip_id = uuid.UUID(web.get("/api/v1/queue", headers=ana).json()["tips"][0]["id"])
    sent = web.post(f"/api/v1/tips/{tip_id}/messages", headers=ana, json={"body": "Una pregunta"})
    assert sent.status_code == 201
    with engine.connect() as connection:
        envelopes = connection.scalars(select(Envelope.data).where(Envelope.tip_id == tip_id)).all()
        chunks = connection.scalars(
            select(BlobChunk.data)
            .join(Blob, Blob.id == BlobChunk.blob_id)
            .where(Blob.tip_id == tip_id)
        ).all()
    assert envelopes
    assert chunks
    asked = web.post(f"/api/v1/tips/{tip_id}/approvals", headers=ana, json={"kind": "purge"})
    assert asked.status_code == 202, asked.text
    decided = web.post(
        f"/api/v1/approvals/{asked.json()['approval_id']}/decision",
        headers=sam,
        json={"approve": True},
    )
    assert decided.status_code == 200, decided.text
    assert purge_job(make_session_factory(engine), settings) == 1  # the worker carries it out
    with engine.connect() as connection:
        for model in (Envelope, Blob, Message):
            count = select(func.count()).select_from(model).where(model.tip_id == tip_id)
            assert connection.scalar(count) == 0, model.__name__
        tip = connection.execute(select(Tip.purged, Tip.report_blob_id).where(Tip.id == tip_id))
        assert tip.one() == (True, None)
    if engine.dialect.name == "sqlite":
        disk = _on_disk(engine)
        # Long enough to be unique: a leftover slice of any of them would be found.
        pieces = [bytes(e)[-64:] for e in envelopes] + [bytes(c)[-64:] for c in chunks]
        assert not [p for p in pieces if p in disk]
    # The tip is gone for staff too: its view shows no content.
    view = web.get(f"/api/v1/tips/{tip_id}", headers=ana)
    assert view.status_code in (200, 404)
    assert "Ramirez" not in view.text
