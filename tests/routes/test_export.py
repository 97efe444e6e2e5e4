"""Referral exports end to end over real HTTP and the CLI, on SQLite and PostgreSQL: request,
approval by another supervisor, one bundle, decrypted with the stock `age` CLI, unpacked and
verified offline; and everything that must be refused."""

from __future__ import annotations

import json
import shutil
import uuid
from pathlib import Path

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import Engine, func, select
from typer.testing import CliRunner

from crypto.note import generate_signer, sign_note
from service.audit.models import AuditEntry
from service.cli import app
from service.config import Settings
from service.db import make_session_factory
from service.export.models import TipExport
from tests.routes.export_util import (
    CONTACT,
    FILE_NAME,
    Team,
    approve,
    decrypt_and_unpack,
    file_tip,
    log_key,
    new_recipient,
    newest_checkpoint,
    request_export,
)
from tests.service.evidence_samples import jpeg_file

runner = CliRunner()


@pytest.fixture
def tip(web: TestClient, engine: Engine, export_team: Team) -> uuid.UUID:
    tip_id = file_tip(web, engine, jpeg_file())
    sent = web.post(
        f"/api/v1/tips/{tip_id}/messages",
        json={"body": "Which night was it?"},
        headers=export_team.ana,
    )
    assert sent.status_code == 201, sent.text
    return tip_id


def _note(web: TestClient, who: dict[str, str], tip_id: uuid.UUID, body: str) -> str:
    added = web.post(f"/api/v1/tips/{tip_id}/notes", json={"body": body}, headers=who)
    assert added.status_code == 201, added.text
    return str(added.json()["id"])


def _download(
    web: TestClient, who: dict[str, str], tip_id: uuid.UUID, approval: str, to: Path
) -> Path:
    answer = web.post(f"/api/v1/tips/{tip_id}/exports/{approval}", headers=who)
    assert answer.status_code == 200, answer.text
    assert answer.headers["content-type"] == "application/octet-stream"
    to.write_bytes(answer.content)
    return to


def _verify(bundle: Path, key: Path, cp: Path, *extra: str) -> tuple[int, str]:
    args = ["export", "verify", str(bundle), "--key", str(key), "--checkpoint", str(cp), *extra]
    result = runner.invoke(app, args)
    return result.exit_code, result.output


def _files(root: Path) -> dict[str, bytes]:
    return {p.relative_to(root).as_posix(): p.read_bytes() for p in root.rglob("*") if p.is_file()}


def test_a_full_bundle_by_the_approver_verifies_and_carries_what_was_chosen(
    web: TestClient,
    engine: Engine,
    export_team: Team,
    tip: uuid.UUID,
    tmp_path: Path,
    cheap_kdf_env: Settings,
) -> None:
    chosen = _note(web, export_team.ana, tip, "Cash counted at the bridge: 4000 USD")
    _note(web, export_team.ana, tip, "Left out of the bundle")
    view = web.get(f"/api/v1/tips/{tip}", headers=export_team.ana).json()
    assert chosen in {n["id"] for n in view["notes"]}  # what an API client chooses from
    who = new_recipient(tmp_path)
    approval = request_export(web, export_team.ana, tip, who.recipient, notes=[chosen])
    listed = web.get("/api/v1/approvals", headers=export_team.sam).json()["approvals"]
    (shown,) = [a for a in listed if a["id"] == approval]
    assert shown["payload"] == {"recipient": who.recipient, "variant": "full", "notes": [chosen]}
    approve(web, export_team.sam, approval)
    bundle = _download(web, export_team.sam, tip, approval, tmp_path / "referral.age")
    root = decrypt_and_unpack(bundle, who.key_file, tmp_path / "bundle")
    files = _files(root)
    manifest = json.loads(files["manifest.json"])
    assert manifest["tip"] == str(tip)
    assert manifest["variant"] == "full"
    assert manifest["recipient"] == who.recipient
    assert manifest["approved_by"]["username"] == "sam"
    assert manifest["requested_by"]["username"] == "ana"
    listed_paths = {f["path"] for f in manifest["files"]}
    assert f"evidence/01-{FILE_NAME}" in listed_paths
    assert CONTACT in files["contact.json"].decode()  # sam is an identity custodian
    notes = json.loads(files["notes.json"])
    assert [n["id"] for n in notes] == [chosen]
    conversation = json.loads(files["conversation.json"])
    assert conversation[0]["body"] == "Which night was it?"
    assert files[f"evidence/01-{FILE_NAME}"][:2] == b"\xff\xd8"
    history = json.loads(files["history.json"])
    assert "tip.export_started" in {h["action"] for h in history}
    key = log_key(web, export_team.sam, tmp_path)
    code, output = _verify(root, key, root / "audit" / "checkpoint")
    assert code == 0, output
    assert f"tip {tip}" in output
    assert "by sam" in output
    assert manifest["exported_at"] in output
    # The approval is used up: a second download, by either of them, is refused.
    again = web.post(f"/api/v1/tips/{tip}/exports/{approval}", headers=export_team.ana)
    assert again.status_code == 409
    with make_session_factory(engine)() as session:
        assert session.scalar(select(func.count()).select_from(TipExport)) == 1
        actions = list(session.scalars(select(AuditEntry.action).where(AuditEntry.tip_id == tip)))
    assert actions.count("tip.exported") == 1


def _tamper_cases(root: Path) -> dict[str, object]:
    evidence = next(p for p in (root / "evidence").iterdir())
    other = generate_signer("probity.local/audit")
    return {
        "edited file": lambda d: (d / "report.json").write_text('{"narrative": "nothing"}\n'),
        "edited evidence": lambda d: (d / "evidence" / evidence.name).write_bytes(b"x"),
        "removed file": lambda d: (d / "conversation.json").unlink(),
        "added file": lambda d: (d / "extra.txt").write_text("hello"),
        "edited manifest": lambda d: (d / "manifest.json").write_text(
            (d / "manifest.json").read_text().replace('"variant": "full"', '"variant": "redacted"')
        ),
        "forged signature": lambda d: (d / "manifest.sig").write_text(
            sign_note(_signed_text(d), other)
        ),
        "entry edited": lambda d: (d / "audit" / "entry.json").write_bytes(
            (d / "audit" / "entry.json").read_bytes().replace(b'"tip.exported"', b'"tip.exportee"')
        ),
        "manifest points outside": lambda d: (d / "manifest.json").write_text(
            (d / "manifest.json").read_text().replace('"path": "report.json"', '"path": "../x"')
        ),
        "proof edited": lambda d: (d / "audit" / "inclusion-proof").write_text(
            _flip_proof((d / "audit" / "inclusion-proof").read_text())
        ),
    }


def _signed_text(root: Path) -> str:
    return (root / "manifest.sig").read_text().split("\n\n")[0] + "\n"


def _flip_proof(text: str) -> str:
    lines = text.split("\n")
    index_line = next(i for i, line in enumerate(lines) if line.startswith("index "))
    lines[index_line] = "index " + str(int(lines[index_line][6:]) + 1)
    return "\n".join(lines)


def test_any_tampering_fails_verification(
    web: TestClient, export_team: Team, tip: uuid.UUID, tmp_path: Path, cheap_kdf_env: Settings
) -> None:
    who = new_recipient(tmp_path)
    approval = request_export(web, export_team.ana, tip, who.recipient)
    approve(web, export_team.sue, approval)
    bundle = _download(web, export_team.ana, tip, approval, tmp_path / "referral.age")
    root = decrypt_and_unpack(bundle, who.key_file, tmp_path / "bundle")
    key = log_key(web, export_team.sam, tmp_path)
    cp = root / "audit" / "checkpoint"
    assert _verify(root, key, cp)[0] == 0
    assert not (root / "contact.json").exists()  # ana is no identity custodian
    for name, tamper in _tamper_cases(root).items():
        copy = tmp_path / name.replace(" ", "-")
        shutil.copytree(root, copy)
        tamper(copy)  # type: ignore[operator]
        code, output = _verify(copy, key, cp)
        assert code == 1, name
        assert "verification failed" in output, (name, output)
    # Under another log key nothing verifies: the signature, the checkpoint.
    stranger = tmp_path / "stranger.pub"
    stranger.write_text(generate_signer("probity.local/audit").verifier.encode())
    code, output = _verify(root, stranger, cp)
    assert code == 1
    assert "manifest.sig" in output


def test_a_newer_checkpoint_needs_a_consistency_proof(
    web: TestClient, export_team: Team, tip: uuid.UUID, tmp_path: Path, cheap_kdf_env: Settings
) -> None:
    who = new_recipient(tmp_path)
    approval = request_export(web, export_team.ana, tip, who.recipient)
    approve(web, export_team.sam, approval)
    bundle = _download(web, export_team.ana, tip, approval, tmp_path / "referral.age")
    root = decrypt_and_unpack(bundle, who.key_file, tmp_path / "bundle")
    _note(web, export_team.ana, tip, "after the export")  # the log grows
    key = log_key(web, export_team.sam, tmp_path)
    newer = newest_checkpoint(web, export_team.sam, tmp_path, "newer.checkpoint")
    code, output = _verify(root, key, newer)
    assert code == 1
    assert "--consistency-proof" in output
    first = int((root / "audit" / "checkpoint").read_text().split("\n")[1])
    second = int(newer.read_text().split("\n")[1])
    assert second > first
    proof = web.get(
        f"/api/v1/audit/proofs/consistency?first={first}&second={second}", headers=export_team.sam
    )
    proof_file = tmp_path / "consistency.json"
    proof_file.write_text(proof.text)
    code, output = _verify(root, key, newer, "--consistency-proof", str(proof_file))
    assert code == 0, output
    body = proof.json()
    body["hashes"] = list(reversed(body["hashes"]))
    proof_file.write_text(json.dumps(body))
    if len(body["hashes"]) > 1:
        assert _verify(root, key, newer, "--consistency-proof", str(proof_file))[0] == 1
