"""What the reporter is told about each file matches what was stored, byte for byte."""

from __future__ import annotations

import html
import json
import uuid
from collections.abc import Callable

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import Engine

from crypto.age import decrypt_bytes
from service.blobs.store import read_blob
from service.db import make_session_factory
from service.tips.keys import envelope_bytes
from service.tips.models import Attachment, EnvelopeKind
from tests.factories import Border, tip_json
from tests.routes.reporter_pages_util import report_data, report_form
from tests.routes.test_tip_view_api import only_evidence
from tests.service.evidence_review_samples import docx_with_review
from tests.service.evidence_samples import docx_zip_bomb, jpeg_file


def submit(web: TestClient, name: str, data: bytes) -> list[dict[str, object]]:
    response = web.post(
        "/api/v1/tips",
        files=[
            ("tip", (None, json.dumps(tip_json()).encode(), "application/json")),
            ("files", (name, data, "application/octet-stream")),
        ],
    )
    assert response.status_code == 201, response.text
    attachments: list[dict[str, object]] = response.json()["attachments"]
    return attachments


def stored_file(engine: Engine, border: Border, tip_id: str, attachment_id: str) -> bytes:
    with make_session_factory(engine)() as session:
        attachment = session.get_one(Attachment, uuid.UUID(attachment_id))
        envelope = envelope_bytes(session, uuid.UUID(tip_id), EnvelopeKind.STAFF)
        assert envelope is not None
        keys = json.loads(decrypt_bytes(envelope, [border.recovery_identity]))
        return read_blob(session, attachment.blob_id, [keys["conversation"]])


def test_a_jpeg_cut_inside_app1_is_stored_as_received_and_the_answer_says_so(
    web: TestClient, engine: Engine, border: Border
) -> None:
    photo = jpeg_file()
    cut = photo[: photo.index(b"Exif") + 40]
    (answer,) = submit(web, "cut.jpg", cut)
    assert answer["metadata_cleaned"] is False
    assert answer["not_cleaned_reason"] == "unreadable"
    assert answer["metadata_removed"] == []
    assert answer["size"] == len(cut)
    _, tip_id, evidence = only_evidence(web, border.reviewer_us)
    assert evidence["cleaned"] is False
    assert stored_file(engine, border, tip_id, evidence["id"]) == cut


def test_a_docx_zip_bomb_is_stored_as_received_and_the_answer_says_why(
    web: TestClient, engine: Engine, border: Border
) -> None:
    bomb = docx_zip_bomb()
    (answer,) = submit(web, "budget.docx", bomb)
    assert answer["metadata_cleaned"] is False
    assert answer["not_cleaned_reason"] == "inflates_too_much"
    _, tip_id, evidence = only_evidence(web, border.reviewer_us)
    assert evidence["reason"] == "inflates_too_much"
    assert stored_file(engine, border, tip_id, evidence["id"]) == bomb


BOMB = ("budget.docx", docx_zip_bomb)
REVIEWED = ("review.docx", docx_with_review)


@pytest.mark.parametrize(
    ("sent", "lang", "told"),
    [
        (BOMB, "en", "unpacks to far more data than it holds"),
        (BOMB, "es", "se descomprime en muchos más datos de los que contiene"),
        (REVIEWED, "en", "the names of the people who commented on or changed the document"),
        (REVIEWED, "es", "los nombres de las personas que comentaron o cambiaron el documento"),
    ],
)
def test_the_receipt_page_explains_a_zip_bomb_and_names_removed_review_traces(
    web: TestClient, sent: tuple[str, Callable[[], bytes]], lang: str, told: str
) -> None:
    name, build = sent
    form = report_form(web, lang)
    response = web.post(
        f"/report?lang={lang}",
        data=report_data(form),
        files={"files": (name, build(), "application/octet-stream")},
    )
    assert response.status_code == 201, response.text
    assert told in " ".join(html.unescape(response.text).split())
