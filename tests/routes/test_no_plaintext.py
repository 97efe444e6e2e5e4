"""After a full reporter flow, nothing secret is anywhere at rest or in the logs.

Scans the SQLite database with its WAL (or a pg_dump of PostgreSQL), every file under the data
directory, and everything the process logged, for the narrative, subject names, contact details,
message text, evidence bytes, the receipt, the client address and the user agent.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
from pathlib import Path

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import Engine

from routes.app import create_app
from service.config import Settings
from tests.factories import seed_border, tip_json
from tests.routes.reporter_pages_util import NO_FILE, forms, jpeg_with_exif, submit

CLIENT_HOST = "203.0.113.77"
CANARY_UA = "Canary-UA/31.4 (PlaintextScan)"


def _csrf(client: TestClient, path: str) -> str:
    page = client.get(path)
    assert page.status_code == 200, page.text
    return next(f for f in forms(page.text) if f.method.lower() == "post").value("csrf")


def _everything_at_rest(settings: Settings, tmp_path: Path) -> bytes:
    blobs = [p.read_bytes() for p in settings.data_dir.rglob("*") if p.is_file()]
    url = settings.effective_database_url
    if url.startswith("sqlite:///"):
        database = Path(url.removeprefix("sqlite:///"))
        blobs += [p.read_bytes() for p in database.parent.glob(database.name + "*")]
    if url.startswith("postgresql"):
        if shutil.which("pg_dump") is None:
            pytest.skip("pg_dump not installed: apt-get install postgresql-client")
        dump = subprocess.run(
            ["pg_dump", "--data-only", url.replace("+psycopg", "")],
            capture_output=True,
            check=True,
        )
        blobs.append(dump.stdout)
    return b"\n".join(blobs)


def test_no_secret_reaches_disk_or_logs(
    engine: Engine, settings: Settings, tmp_path: Path, capfd: pytest.CaptureFixture[str]
) -> None:
    seed_border(engine, settings)
    narrative = "Comandante Quintero cobra cuota semanal XQ7-UNIQUE-NARRATIVE en Ysleta."
    subject = "Hermenegildo Zubizarreta"
    contact = "signal-contact-ZZ9-UNIQUE"
    message = "Mensaje de seguimiento QK4-UNIQUE"
    evidence = os.urandom(200_000)
    page_narrative = "Narrativa por la página PGX-UNIQUE: el jefe de grupo avisa de los cateos."
    page_subject = "Eulogio Cárdenas Villaseñor"
    page_message = "Respuesta desde la página RPL-UNIQUE"
    tip = tip_json(
        narrative=narrative,
        contact=contact,
        subjects=[{"name": subject, "badge": "B-99817", "unit": "Unidad Fantasma 12"}],
    )
    with TestClient(
        create_app(settings), client=(CLIENT_HOST, 50123), headers={"user-agent": CANARY_UA}
    ) as client:
        response = client.post(
            "/api/v1/tips",
            files=[
                ("tip", (None, json.dumps(tip), "application/json")),
                ("files", ("evidence.bin", evidence, "application/octet-stream")),
            ],
        )
        assert response.status_code == 201, response.text
        receipt = response.json()["receipt"]
        token = client.post("/api/v1/reporter/session", json={"receipt": receipt}).json()["token"]
        headers = {"Authorization": f"Bearer {token}"}
        sent = client.post("/api/v1/reporter/messages", json={"body": message}, headers=headers)
        assert sent.status_code == 201
        view = client.get("/api/v1/reporter/tip", headers=headers).json()
        assert view["messages"][0]["body"] == message
        assert view["attachments"][0]["size"] == len(evidence)
        # And the same through the pages: a form with a photo, a receipt login, a reply.
        page_photo = jpeg_with_exif()
        _, page_receipt = submit(
            client,
            "es",
            files={"files": ("foto.jpg", page_photo, "image/jpeg")},
            narrative=page_narrative,
            subject_name_1=page_subject,
        )
        signed_in = client.post(
            "/status?lang=es",
            data={"receipt": page_receipt, "csrf": _csrf(client, "/status?lang=es")},
        )
        assert signed_in.status_code == 200, signed_in.text
        reply = client.post(
            "/status/messages?lang=es",
            data={"body": page_message, "csrf": _csrf(client, "/status/tip?lang=es")},
            files=NO_FILE,
        )
        assert reply.status_code == 200, reply.text
        assert page_message in reply.text
    engine.dispose()
    logs = capfd.readouterr()
    haystack = _everything_at_rest(settings, tmp_path) + (logs.out + logs.err).encode()
    needles = {
        "narrative": narrative.encode(),
        "subject name": subject.encode(),
        "subject name (lower case)": subject.lower().encode(),
        "badge": b"B-99817",
        "unit": b"Unidad Fantasma 12",
        "contact": contact.encode(),
        "message": message.encode(),
        "evidence bytes": evidence[1000:1032],
        "receipt": receipt.encode(),
        "receipt without hyphens": receipt.replace("-", "").encode(),
        "client address": CLIENT_HOST.encode(),
        "user agent": CANARY_UA.encode(),
        "session token": token.encode(),
        "page narrative": page_narrative.encode(),
        "page subject": page_subject.encode(),
        "page message": page_message.encode(),
        "photo's camera make": b"CanaryCam",
        "page receipt": page_receipt.encode(),
        "page receipt without hyphens": page_receipt.replace("-", "").encode(),
    }
    found = [name for name, needle in needles.items() if needle in haystack]
    assert found == [], f"found at rest or in logs: {found}"
    # The scan does see the database: an agency slug is stored in clear and must be found.
    assert b"el-paso-pd" in haystack
