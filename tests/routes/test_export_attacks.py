"""Attacks on the referral export (review of issue 13): what a redacted bundle must not carry,
and what the offline verifier must refuse without hanging or crashing."""

from __future__ import annotations

import json
import os
import shutil
import threading
import uuid
from pathlib import Path

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import Engine, select
from typer.testing import CliRunner

from service.audit.canonical import AuditRecord
from service.audit.log import history
from service.cli import app
from service.db import make_session_factory
from service.tips.models import Tip
from tests.factories import tip_json
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
from tests.service.evidence_samples import SECRET, jpeg_file

runner = CliRunner()


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


def _verify(root: Path, key: Path) -> tuple[int, str]:
    args = ["export", "verify", str(root), "--key", str(key)]
    result = runner.invoke(app, [*args, "--checkpoint", str(root / "audit" / "checkpoint")])
    return result.exit_code, result.output


def _verify_within(root: Path, key: Path, fifo: Path) -> tuple[int, str] | None:
    """Verify in a thread; None if it is still blocked after 10 s (then unblock the FIFO)."""
    answer: list[tuple[int, str]] = []
    worker = threading.Thread(target=lambda: answer.append(_verify(root, key)), daemon=True)
    worker.start()
    worker.join(10)
    if worker.is_alive():  # stuck opening the FIFO: give it a writer that closes at once
        os.close(os.open(fifo, os.O_WRONLY | os.O_NONBLOCK))
        worker.join(10)
        return None
    return answer[0]


@pytest.fixture
def bundle_root(
    web: TestClient, engine: Engine, export_team: Team, tmp_path: Path
) -> tuple[Path, Path]:
    tip_id = file_tip(web, engine, jpeg_file())
    who = new_recipient(tmp_path)
    approval = request_export(web, export_team.ana, tip_id, who.recipient, redacted=True)
    approve(web, export_team.sam, approval)
    answer = web.post(f"/api/v1/tips/{tip_id}/exports/{approval}", headers=export_team.ana)
    assert answer.status_code == 200, answer.text
    bundle = tmp_path / "referral.age"
    bundle.write_bytes(answer.content)
    root = decrypt_and_unpack(bundle, who.key_file, tmp_path / "bundle")
    key = log_key(web, export_team.sam, tmp_path)
    assert _verify(root, key)[0] == 0
    return root, key


def test_verify_refuses_tail_files_that_are_not_regular_files(
    bundle_root: tuple[Path, Path], tmp_path: Path
) -> None:
    """Anyone can encrypt a tar to the recipient's public key: a forged bundle may hold links,
    FIFOs or huge files where the manifest and its proofs belong. Verification must refuse
    them in one line, never follow them out of the bundle, hang or exhaust memory."""
    root, key = bundle_root
    # A symlink to a genuine copy outside the bundle: what is checked must be what was sent.
    linked = tmp_path / "linked"
    shutil.copytree(root, linked)
    outside = tmp_path / "outside.sig"
    outside.write_bytes((root / "manifest.sig").read_bytes())
    (linked / "manifest.sig").unlink()
    (linked / "manifest.sig").symlink_to(outside)
    code, output = _verify(linked, key)
    assert code == 1, output
    assert "manifest.sig: not a regular file" in output
    # A linked audit directory, the same.
    moved = tmp_path / "moved"
    shutil.copytree(root, moved)
    shutil.move(moved / "audit", tmp_path / "audit-elsewhere")
    (moved / "audit").symlink_to(tmp_path / "audit-elsewhere")
    code, output = _verify(moved, key)
    assert code == 1, output
    assert "verification failed: audit" in output
    # A FIFO where the inclusion proof belongs: refused at once, no blocked read.
    piped = tmp_path / "piped"
    shutil.copytree(root, piped)
    proof = piped / "audit" / "inclusion-proof"
    proof.unlink()
    os.mkfifo(proof)
    answer = _verify_within(piped, key, proof)
    assert answer is not None, "verify blocked reading a FIFO"
    assert answer[0] == 1
    assert "audit/inclusion-proof: not a regular file" in answer[1]
    # A FIFO the manifest does not list is an added file, like any other.
    extra = tmp_path / "extra"
    shutil.copytree(root, extra)
    os.mkfifo(extra / "evidence" / "99.pipe")
    code, output = _verify(extra, key)
    assert code == 1
    assert "evidence/99.pipe: not in the manifest" in output
    # A manifest far larger than any real one is refused before it is read.
    huge = tmp_path / "huge"
    shutil.copytree(root, huge)
    with (huge / "manifest.json").open("r+b") as handle:
        handle.truncate(64 << 20)  # sparse: no disk used
    code, output = _verify(huge, key)
    assert code == 1
    assert "manifest.json: too large" in output


def test_verify_refuses_a_malformed_entry_without_a_traceback(
    bundle_root: tuple[Path, Path], tmp_path: Path
) -> None:
    root, key = bundle_root
    for name, details in (("list", []), ("text", "x"), ("number", 7)):
        copy = tmp_path / name
        shutil.copytree(root, copy)
        entry = json.loads((copy / "audit" / "entry.json").read_bytes())
        entry["details"] = details
        (copy / "audit" / "entry.json").write_text(json.dumps(entry))
        code, output = _verify(copy, key)
        assert code == 1, (name, output)
        assert "verification failed: audit/entry.json" in output, (name, output)


def _history(engine: Engine, tip_id: uuid.UUID) -> list[AuditRecord]:
    with make_session_factory(engine)() as session:
        return history(session, tip_id)


def _export_details(engine: Engine, tip_id: uuid.UUID) -> list[tuple[str, dict[str, object]]]:
    entries = _history(engine, tip_id)
    wanted = ("tip.export_started", "tip.exported")
    return [(e.action, dict(e.details)) for e in entries if e.action in wanted]


def test_the_log_says_whether_a_bundle_carried_the_contact_details(
    web: TestClient, engine: Engine, export_team: Team, tmp_path: Path
) -> None:
    """The same approved full export carries the reporter's contact details or not depending on
    who downloads it (an identity custodian or not): an auditor must see which from the log."""
    tip_id = file_tip(web, engine, jpeg_file())
    who = new_recipient(tmp_path)
    first = request_export(web, export_team.ana, tip_id, who.recipient)
    approve(web, export_team.sam, first)
    by_ana = web.post(f"/api/v1/tips/{tip_id}/exports/{first}", headers=export_team.ana)
    assert by_ana.status_code == 200, by_ana.text
    second = request_export(web, export_team.ana, tip_id, who.recipient)
    approve(web, export_team.sam, second)
    by_sam = web.post(f"/api/v1/tips/{tip_id}/exports/{second}", headers=export_team.sam)
    assert by_sam.status_code == 200, by_sam.text
    bundle = tmp_path / "sam.age"
    bundle.write_bytes(by_sam.content)
    root = decrypt_and_unpack(bundle, who.key_file, tmp_path / "sam")
    assert CONTACT in (root / "contact.json").read_text()
    found = [
        (action, details.get("contact")) for action, details in _export_details(engine, tip_id)
    ]
    assert found == [
        ("tip.export_started", False),
        ("tip.exported", False),
        ("tip.export_started", True),
        ("tip.exported", True),
    ]
    # A later redacted bundle's history must not tell its recipient that contact details exist.
    asking = {"kind": "identity_reveal"}
    reveal = web.post(f"/api/v1/tips/{tip_id}/approvals", json=asking, headers=export_team.rita)
    assert reveal.status_code == 202, reveal.text
    approve(web, export_team.sam, reveal.json()["approval_id"])
    assert "tip.identity_revealed" in {e.action for e in _history(engine, tip_id)}
    third = request_export(web, export_team.ana, tip_id, who.recipient, redacted=True)
    approve(web, export_team.sam, third)
    redacted = web.post(f"/api/v1/tips/{tip_id}/exports/{third}", headers=export_team.sam)
    assert redacted.status_code == 200, redacted.text
    bundle.write_bytes(redacted.content)
    root = decrypt_and_unpack(bundle, who.key_file, tmp_path / "redacted")
    for entry in json.loads((root / "history.json").read_text()):
        assert "contact" not in entry["details"], entry
        assert entry["action"] != "tip.identity_revealed", entry


FAKE_OK = "\x1b[2K\x1b[1GOK: the referral bundle is intact and on the audit log.\x1b[8m"


def test_verify_errors_cannot_write_terminal_controls(
    bundle_root: tuple[Path, Path], tmp_path: Path
) -> None:
    """A forged bundle names its own files (tar) and its manifest's paths (unsigned until
    checked): an escape sequence in a name must not erase the error line and print a fake OK."""
    root, key = bundle_root
    added = tmp_path / "added"
    shutil.copytree(root, added)
    (added / FAKE_OK).write_text("x")
    listed = tmp_path / "listed"
    shutil.copytree(root, listed)
    manifest = json.loads((listed / "manifest.json").read_text())
    manifest["files"].append({"path": FAKE_OK, "sha256": "0" * 64, "size": 1})
    (listed / "manifest.json").write_text(json.dumps(manifest))
    for copy in (added, listed):
        code, output = _verify(copy, key)
        assert code == 1
        assert "verification failed" in output
        assert "\x1b" not in output, repr(output)
        assert "\\x1b[2K" in output  # shown, harmlessly


def test_a_free_text_incident_date_is_not_cut_to_seven_characters(
    web: TestClient, engine: Engine, export_team: Team, tmp_path: Path
) -> None:
    """The incident date is free text ("last March", "14/10/2026"): its first 7 characters
    are no month ("14/10/2" keeps the day). A redacted bundle keeps a date only as its month."""
    body = tip_json(incident_date="14/10/2026 around 23:40")
    response = web.post(
        "/api/v1/tips",
        files=[("tip", (None, json.dumps(body).encode(), "application/json"))],
    )
    assert response.status_code == 201, response.text
    with make_session_factory(engine)() as session:
        tip_id = session.scalars(select(Tip.id)).one()
    who = new_recipient(tmp_path)
    approval = request_export(web, export_team.ana, tip_id, who.recipient, redacted=True)
    approve(web, export_team.sam, approval)
    answer = web.post(f"/api/v1/tips/{tip_id}/exports/{approval}", headers=export_team.ana)
    assert answer.status_code == 200, answer.text
    bundle = tmp_path / "referral.age"
    bundle.write_bytes(answer.content)
    root = decrypt_and_unpack(bundle, who.key_file, tmp_path / "bundle")
    report = json.loads((root / "report.json").read_text())
    assert "14/" not in json.dumps(report)
    assert report["incident_date"] is None  # not a recognisable month: withheld
