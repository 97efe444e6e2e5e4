"""Referral exports by the CLI (the operator's recovery key) and from the tip page, on SQLite and
PostgreSQL: the redacted variant drops what could identify the reporter; a multi-row evidence
file streams intact; the page offers the request form and a one-time download."""

from __future__ import annotations

import json
import os
import uuid
from pathlib import Path

from fastapi.testclient import TestClient
from sqlalchemy import Engine
from typer.testing import CliRunner

from service.cli import app
from service.config import Settings
from tests.factories import RECOVERY_PASSPHRASE, Border, recovery_path
from tests.routes.export_util import (
    CONTACT,
    FILE_NAME,
    Team,
    approve,
    decrypt_and_unpack,
    file_tip,
    log_key,
    new_recipient,
    request_export,
)
from tests.service.evidence_samples import jpeg_file
from tests.staff_util import csrf_of, page_login

runner = CliRunner()


def _cli_export(settings: Settings, tip_id: uuid.UUID, to: str, out: Path, *flags: str) -> str:
    args = ["export", str(tip_id), "--to", to, *flags, "--out", str(out)]
    args += ["--recovery-file", str(recovery_path(settings)), "--password-stdin"]
    result = runner.invoke(app, args, input=RECOVERY_PASSPHRASE + "\n")
    return f"{result.exit_code}:{result.output}"


def _all_text(root: Path) -> str:
    return "\n".join(p.read_bytes().decode("latin-1") for p in root.rglob("*") if p.is_file())


def test_the_operator_writes_a_redacted_bundle_that_identifies_nobody(
    web: TestClient,
    engine: Engine,
    export_team: Team,
    tmp_path: Path,
    cheap_kdf_env: Settings,
) -> None:
    tip_id = file_tip(web, engine, jpeg_file())
    who = new_recipient(tmp_path)
    approval = request_export(web, export_team.ana, tip_id, who.recipient, redacted=True)
    out = tmp_path / "referral.age"
    # Not approved yet: nothing to use, no file left behind.
    assert _cli_export(cheap_kdf_env, tip_id, who.recipient, out, "--redacted").startswith("1:")
    assert not out.exists()
    approve(web, export_team.sue, approval)
    # The full variant, or another recipient, was not approved.
    assert _cli_export(cheap_kdf_env, tip_id, who.recipient, out).startswith("1:")
    other = new_recipient(tmp_path, "other")
    assert _cli_export(cheap_kdf_env, tip_id, other.recipient, out, "--redacted").startswith("1:")
    assert _cli_export(cheap_kdf_env, tip_id, "age1garbage", out, "--redacted").startswith("1:")
    done = _cli_export(cheap_kdf_env, tip_id, who.recipient, out, "--redacted")
    assert done.startswith("0:"), done
    root = decrypt_and_unpack(out, who.key_file, tmp_path / "bundle")
    text = _all_text(root)
    assert CONTACT not in text
    assert "+52" not in text
    assert FILE_NAME not in text
    assert "ramirez-cash" not in text
    assert "2026-10-14" not in text  # the incident day: months only
    manifest = json.loads((root / "manifest.json").read_text())
    assert manifest["variant"] == "redacted"
    assert manifest["exported_by"]["username"] == "operator"
    paths = {f["path"] for f in manifest["files"]}
    assert "contact.json" not in paths
    assert [p for p in paths if p.startswith("evidence/")] == ["evidence/01.jpeg"]
    report = json.loads((root / "report.json").read_text())
    assert report["incident_date"] == "2026-10"
    assert len(report["received_on"]) == 7
    assert "language" not in report
    assert report["narrative"].startswith("Sergeant Ramirez")  # the report is the point
    for entry in json.loads((root / "history.json").read_text()):
        assert len(entry["time"]) == 7
    key = log_key(web, export_team.sam, tmp_path)
    verified = runner.invoke(
        app,
        [
            "export",
            "verify",
            str(root),
            "--key",
            str(key),
            "--checkpoint",
            str(root / "audit" / "checkpoint"),
        ],
    )
    assert verified.exit_code == 0, verified.output
    assert "operator" in verified.output
    # Used once: a second run is refused and leaves no file.
    again = tmp_path / "again.age"
    assert _cli_export(cheap_kdf_env, tip_id, who.recipient, again, "--redacted").startswith("1:")
    assert not again.exists()


def test_a_large_evidence_file_streams_through_intact(
    web: TestClient,
    engine: Engine,
    export_team: Team,
    tmp_path: Path,
    cheap_kdf_env: Settings,
) -> None:
    data = os.urandom(3 * (1 << 20) + 12345)  # several chunk rows, not a whole age chunk
    tip_id = file_tip(web, engine, data)
    who = new_recipient(tmp_path)
    approval = request_export(web, export_team.ana, tip_id, who.recipient)
    approve(web, export_team.sam, approval)
    answer = web.post(f"/api/v1/tips/{tip_id}/exports/{approval}", headers=export_team.ana)
    assert answer.status_code == 200, answer.text
    bundle = tmp_path / "referral.age"
    bundle.write_bytes(answer.content)
    root = decrypt_and_unpack(bundle, who.key_file, tmp_path / "bundle")
    (evidence,) = list((root / "evidence").iterdir())
    assert evidence.read_bytes() == data
    key = log_key(web, export_team.sam, tmp_path)
    verified = runner.invoke(
        app,
        [
            "export",
            "verify",
            str(root),
            "--key",
            str(key),
            "--checkpoint",
            str(root / "audit" / "checkpoint"),
        ],
    )
    assert verified.exit_code == 0, verified.output


def test_the_tip_page_requests_and_then_downloads_once(
    web: TestClient,
    engine: Engine,
    settings: Settings,
    border: Border,
    export_team: Team,
    tmp_path: Path,
) -> None:
    tip_id = file_tip(web, engine, jpeg_file())
    page_login(web, border.supervisor_us)
    page = web.get(f"/staff/tips/{tip_id}")
    assert "Referral export" in page.text
    who = new_recipient(tmp_path)
    sent = web.post(
        f"/staff/tips/{tip_id}/request",
        data={
            "csrf": csrf_of(page.text),
            "kind": "export",
            "recipient": who.recipient,
            "redacted": "1",
        },
        follow_redirects=False,
    )
    assert sent.status_code == 303, sent.text
    bad = web.post(
        f"/staff/tips/{tip_id}/request",
        data={"csrf": csrf_of(page.text), "kind": "export", "recipient": "age1nope"},
        follow_redirects=False,
    )
    assert bad.status_code == 422
    listed = web.get("/api/v1/approvals", headers=export_team.sue).json()["approvals"]
    (asked,) = [a for a in listed if a["kind"] == "export"]
    assert asked["payload"]["recipient"] == who.recipient
    assert asked["payload"]["variant"] == "redacted"
    approve(web, export_team.sue, asked["id"])
    page = web.get(f"/staff/tips/{tip_id}")
    assert "Download the referral bundle" in page.text
    url = f"/staff/tips/{tip_id}/exports/{asked['id']}"
    assert url in page.text
    got = web.post(url, data={"csrf": csrf_of(page.text)})
    assert got.status_code == 200
    bundle = tmp_path / "referral.age"
    bundle.write_bytes(got.content)
    root = decrypt_and_unpack(bundle, who.key_file, tmp_path / "bundle")
    assert json.loads((root / "manifest.json").read_text())["requested_by"]["username"] == "sam"
    page = web.get(f"/staff/tips/{tip_id}")
    assert url not in page.text  # used: no second button
    again = web.post(url, data={"csrf": csrf_of(page.text)})
    assert again.status_code == 409
    no_csrf = web.post(url, data={"csrf": "forged"})
    assert no_csrf.status_code == 403
