"""Attacks on the log key chain (review of issue 13): a rotated-away key - kept on disk as
`log-signing.<id>.retired.key`, so a thief of the keys directory or of an old escrow copy has it -
must not sign checkpoints past its rotation point, and a chain that forks or loops is refused."""

from __future__ import annotations

import base64
import json
from pathlib import Path

import pytest
from sqlalchemy import Engine

from crypto.checkpoint import Checkpoint, open_checkpoint, sign_checkpoint
from crypto.merkle import TreeBuilder
from crypto.note import Signer, generate_signer, parse_signer
from crypto.statement import Restore, Rotation, TreeHead, open_rotation, sign_restore, sign_rotation
from service.audit.export import export_log
from service.audit.rotation import NEXT_KEY_FILE, rotate_log_key
from service.audit.statements import record_restore
from service.audit.verify import verify_export
from service.config import Settings
from service.errors import VerificationError
from service.instance.keys import LOG_SIGNING_FILE, load_log_signer, retired_key_path
from tests.factories import init_instance, transaction
from tests.service.audit_util import fill
from tests.service.restore_util import roll_back_log, sign


@pytest.fixture
def exported(settings: Settings, engine: Engine, tmp_path: Path) -> tuple[list[str], str, Signer]:
    """(export lines, checkpoint, the retired key) of a log rotated once at 30-odd entries."""
    init_instance(engine, settings)
    fill(engine, 30)
    with transaction(engine) as session:
        rotate_log_key(session, settings)
    fill(engine, 5)
    path = tmp_path / "audit.jsonl"
    with transaction(engine) as session:
        export_log(session, settings, path)
    retired = parse_signer(next(settings.effective_keys_dir.glob("*.retired.key")).read_text())
    checkpoint = Path(f"{path}.checkpoint").read_text()
    return path.read_text().splitlines(keepends=True), checkpoint, retired


def _resign(note: str, signer: Signer, settings: Settings) -> str:
    body = open_checkpoint(note, load_log_signer(settings.effective_keys_dir).verifier)
    return sign_checkpoint(Checkpoint(body.origin, body.size, body.root), signer)


def test_a_retired_key_cannot_sign_past_its_rotation_point(
    settings: Settings, exported: tuple[list[str], str, Signer]
) -> None:
    lines, checkpoint, retired = exported
    rotation = open_rotation(json.loads(lines[1])["statement"])
    by_old = _resign(checkpoint, retired, settings)
    assert open_checkpoint(by_old, retired.verifier).size > rotation.head.size
    with pytest.raises(VerificationError, match="rotated away"):
        verify_export(lines, checkpoint=by_old, key=retired.verifier.encode())
    genuine = verify_export(lines, checkpoint=checkpoint, key=retired.verifier.encode())
    with pytest.raises(VerificationError, match="rotated away"):  # nor as the trusted one
        verify_export(lines, checkpoint=checkpoint, trusted=by_old, key=retired.verifier.encode())
    assert genuine.size > rotation.head.size


def _with_statements(lines: list[str], notes: list[str]) -> list[str]:
    header = json.loads(lines[0])
    old_count = header["statements"]
    header["statements"] = len(notes)
    statements = [json.dumps({"statement": n}) + "\n" for n in notes]
    return [json.dumps(header) + "\n", *statements, *lines[1 + old_count :]]


def test_a_second_rotation_from_the_same_key_is_a_fork(
    settings: Settings, exported: tuple[list[str], str, Signer]
) -> None:
    """A thief of the old key makes their own rotation from it, at the genuine point."""
    lines, checkpoint, retired = exported
    real = json.loads(lines[1])["statement"]
    head = open_rotation(real).head
    thief = generate_signer(retired.name)
    fork = Rotation(retired.name, retired.verifier, thief.verifier, head)
    forged = sign_rotation(fork, retired, thief)
    by_thief = _resign(checkpoint, thief, settings)
    for notes in ([forged, real], [real, forged]):
        with pytest.raises(VerificationError, match="forked"):
            verify_export(
                _with_statements(lines, notes), checkpoint=by_thief, key=retired.verifier.encode()
            )


def test_a_rotation_back_to_an_earlier_key_is_refused(
    settings: Settings, engine: Engine, exported: tuple[list[str], str, Signer]
) -> None:
    """A loop would bring the retired key back to life past its rotation point."""
    lines, checkpoint, retired = exported
    real = json.loads(lines[1])["statement"]
    first = open_rotation(real)
    current = load_log_signer(settings.effective_keys_dir)
    back = Rotation(retired.name, current.verifier, retired.verifier, first.head)
    loop = sign_rotation(back, current, retired)
    with pytest.raises(VerificationError, match="earlier key"):
        verify_export(
            _with_statements(lines, [real, loop]),
            checkpoint=_resign(checkpoint, retired, settings),
            key=retired.verifier.encode(),
        )


def test_after_an_interrupted_switch_the_new_key_signs(
    settings: Settings, engine: Engine, tmp_path: Path
) -> None:
    """The rotation committed but the key files were not switched (a crash right after the
    commit): the next checkpoint must not be signed by the key the log says was rotated away."""
    init_instance(engine, settings)
    keys = settings.effective_keys_dir
    with transaction(engine) as session:
        result = rotate_log_key(session, settings)
    current = keys / LOG_SIGNING_FILE
    current.replace(keys / NEXT_KEY_FILE)
    retired_key_path(keys, result.old.id).replace(current)
    fill(engine, 3)
    note = sign(engine, settings)
    assert open_checkpoint(note, result.new).size > result.size
    assert load_log_signer(keys).verifier == result.new
    path = tmp_path / "audit.jsonl"
    with transaction(engine) as session:
        export_log(session, settings, path)
    lines = path.read_text().splitlines(keepends=True)
    checkpoint = Path(f"{path}.checkpoint").read_text()
    verify_export(lines, checkpoint=checkpoint, key=result.old.encode())


def test_the_chain_is_followed_whatever_order_the_statements_come_in(
    settings: Settings, engine: Engine, tmp_path: Path
) -> None:
    """A restore puts rotations made after its backup back in order of their tree size, which
    after an earlier restore need not be the order they were made in."""
    init_instance(engine, settings)
    first = load_log_signer(settings.effective_keys_dir).verifier
    for _ in range(2):
        fill(engine, 4)
        with transaction(engine) as session:
            rotate_log_key(session, settings)
    path = tmp_path / "audit.jsonl"
    with transaction(engine) as session:
        export_log(session, settings, path)
    lines = path.read_text().splitlines(keepends=True)
    checkpoint = Path(f"{path}.checkpoint").read_text()
    swapped = [lines[0], lines[2], lines[1], *lines[3:]]
    report = verify_export(swapped, checkpoint=checkpoint, key=first.encode())
    assert len(report.chain) == 3


def test_a_rotation_that_never_committed_is_not_put_back_by_a_restore(
    settings: Settings, engine: Engine, tmp_path: Path
) -> None:
    """A crash inside the rotation's transaction leaves its statement copy in the keys
    directory; a later restore must not put back a rotation to a key that never signed."""
    init_instance(engine, settings)
    keys = settings.effective_keys_dir
    pinned = load_log_signer(keys).verifier
    fill(engine, 8)
    backup = sign(engine, settings)
    with pytest.raises(RuntimeError), transaction(engine) as session:  # noqa: PT012
        rotate_log_key(session, settings)
        session.info.pop("probity.audit.rotation")  # killed: no rollback hook ran
        raise RuntimeError("killed")
    assert list(keys.glob("log-rotation-*.note"))
    fill(engine, 3)
    sign(engine, settings)
    roll_back_log(engine, open_checkpoint(backup, pinned).size)
    with transaction(engine) as session:
        record_restore(session, settings, backup_checkpoint=backup, last_checkpoint=None)
    fill(engine, 2)
    path = tmp_path / "audit.jsonl"
    with transaction(engine) as session:
        export_log(session, settings, path)
    lines = path.read_text().splitlines(keepends=True)
    checkpoint = Path(f"{path}.checkpoint").read_text()
    report = verify_export(lines, checkpoint=checkpoint, key=pinned.encode())
    assert report.chain[0] == f"pinned key {pinned.name}+{pinned.id:08x}"
    assert not any("rotation" in step for step in report.chain)


def test_the_next_rotation_drops_the_copy_a_killed_one_left(
    settings: Settings, engine: Engine
) -> None:
    init_instance(engine, settings)
    keys = settings.effective_keys_dir
    with pytest.raises(RuntimeError), transaction(engine) as session:  # noqa: PT012
        rotate_log_key(session, settings)
        session.info.pop("probity.audit.rotation")  # killed: no rollback hook ran
        raise RuntimeError("killed")
    [stale] = keys.glob("log-rotation-*.note")
    with transaction(engine) as session:
        result = rotate_log_key(session, settings)
    assert [p.name for p in keys.glob("log-rotation-*.note")] == [
        f"log-rotation-{result.new.id:08x}.note"
    ]
    assert not stale.exists()


def test_a_retired_key_cannot_explain_away_a_newer_checkpoint_with_a_restore(
    settings: Settings, exported: tuple[list[str], str, Signer]
) -> None:
    """The thief of the retired key shows the auditor the log's first entries and a 'restore'
    signed by the retired key that claims the rest (trusted, signed by the new key) was lost."""
    lines, trusted, retired = exported
    count = json.loads(lines[0])["statements"]
    real_rotation = json.loads(lines[1])["statement"]
    entries = lines[1 + count :]
    keep = 10
    builder = TreeBuilder()
    for line in entries[:keep]:
        builder.add_hash(base64.b64decode(json.loads(line)["leaf_hash"]))
    head = TreeHead(keep, builder.root())
    genuine = open_checkpoint(trusted, load_log_signer(settings.effective_keys_dir).verifier)
    claim = Restore(retired.name, head, TreeHead(genuine.size, genuine.root), "2026-12-03")
    header = json.loads(lines[0])
    header.update(size=keep, statements=2)
    forged = [
        json.dumps(header) + "\n",
        json.dumps({"statement": real_rotation}) + "\n",
        json.dumps({"statement": sign_restore(claim, retired)}) + "\n",
        *entries[:keep],
    ]
    checkpoint = sign_checkpoint(Checkpoint(retired.name, keep, head.root), retired)
    with pytest.raises(VerificationError, match="no restore statement"):
        verify_export(forged, checkpoint=checkpoint, key=retired.verifier.encode(), trusted=trusted)
