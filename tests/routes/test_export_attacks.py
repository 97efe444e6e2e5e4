"""Attacks on the referral export (review of issue 13): what a redacted bundle must not carry,
and what the offline verifier must refuse without hanging or crashing."""

from __future__ import annotations

import json
import uuid
from pathlib import Path

from fastapi.testclient import TestClient
from sqlalchemy import Engine, select

from service.db import make_session_factory
from service.tips.models import Tip
from tests.factories import tip_json
from tests.routes.export_util import (
    FILE_NAME,
    Team,
    approve,
    decrypt_and_unpack,
    new_recipient,
    request_export,
)
from tests.service.evidence_samples import SECRET, jpeg_file


def _all_text(root: Path) -> str:
    return "\n".join(p.read_bytes().decode("latin-1") for p in root.rglob("*") if p.is_file())


def _file_uncleaned_tip(web: TestClient, engine: Engine) -> uuid.UUID:
    """A tip whose reporter kept the photo's metadata (its EXIF Artist tag names them)."""
    body = tip_json(remove_metadata=False)
    response = web.post(
        "/api/v1/tips",
        files=[
            ("tip", (None, json.dumps(body).encode(), "application/json")),
            ("files", (FILE_NAME, jpeg_file(), "application/octet-stream")),
        ],
    )
    assert response.status_code == 201, response.text
    with make_session_factory(engine)() as session:
        return session.scalars(select(Tip.id)).one()


def test_a_redacted_bundle_withholds_evidence_that_was_not_cleaned(
    web: TestClient, engine: Engine, export_team: Team, tmp_path: Path
) -> None:
    tip_id = _file_uncleaned_tip(web, engine)
    who = new_recipient(tmp_path)
    approval = request_export(web, export_team.ana, tip_id, who.recipient, redacted=True)
    approve(web, export_team.sam, approval)
    answer = web.post(f"/api/v1/tips/{tip_id}/exports/{approval}", headers=export_team.ana)
    assert answer.status_code == 200, answer.text
    bundle = tmp_path / "referral.age"
    bundle.write_bytes(answer.content)
    root = decrypt_and_unpack(bundle, who.key_file, tmp_path / "bundle")
    assert SECRET not in _all_text(root)  # the raw photo's EXIF names the reporter
    listed = json.loads((root / "evidence.json").read_text())
    assert [(e["withheld"], e["cleaned"]) for e in listed] == [(True, False)]
    assert not (root / "evidence").exists()
    # The full variant (for investigators) keeps the file as the reporter sent it.
    approval = request_export(web, export_team.ana, tip_id, who.recipient)
    approve(web, export_team.sam, approval)
    answer = web.post(f"/api/v1/tips/{tip_id}/exports/{approval}", headers=export_team.ana)
    assert answer.status_code == 200, answer.text
    bundle.write_bytes(answer.content)
    full = decrypt_and_unpack(bundle, who.key_file, tmp_path / "full")
    assert SECRET in _all_text(full)
    assert [e["withheld"] for e in json.loads((full / "evidence.json").read_text())] == [False]
