"""A restore from a backup taken before a key rotation: the keys directory's copy of the
rotation statement goes back into the log, so auditors holding either key still verify."""

from __future__ import annotations

from pathlib import Path

from sqlalchemy import Engine, select

from crypto.checkpoint import parse_body
from service.audit.export import export_log
from service.audit.models import AuditLogKey
from service.audit.rotation import rotate_log_key
from service.audit.statements import list_statements, record_restore
from service.audit.verify import verify_export
from service.config import Settings
from service.health import readiness_problems
from service.instance.keys import load_log_signer
from tests.factories import init_instance, transaction
from tests.service.audit_util import fill
from tests.service.restore_util import forget_rotations, roll_back_log, sign


def _size(note: str) -> int:
    return parse_body(note.split("\n\n")[0] + "\n").size


def test_a_rotation_lost_in_a_restore_is_put_back_and_followed(
    settings: Settings, engine: Engine, tmp_path: Path
) -> None:
    init_instance(engine, settings)
    keys = settings.effective_keys_dir
    fill(engine, 12)
    a = sign(engine, settings)
    old = load_log_signer(keys).verifier.encode()
    fill(engine, 4)
    with transaction(engine) as session:
        rotate_log_key(session, settings)
    new = load_log_signer(keys).verifier.encode()
    fill(engine, 6)
    b = sign(engine, settings)  # signed by the new key
    roll_back_log(engine, _size(a))
    forget_rotations(engine, old)
    with transaction(engine) as session:
        record_restore(session, settings, backup_checkpoint=a, last_checkpoint=None)
    with transaction(engine) as session:
        assert [row.kind for row in list_statements(session)] == ["key_rotation", "restore"]
        assert {k.verifier for k in session.scalars(select(AuditLogKey))} == {old, new}
    assert readiness_problems(engine, settings) == []
    fill(engine, 20)
    path = tmp_path / "audit.jsonl"
    with transaction(engine) as session:
        export_log(session, settings, path)
    lines = path.read_text().splitlines(keepends=True)
    checkpoint = Path(f"{path}.checkpoint").read_text()
    for pinned in (old, new):
        report = verify_export(lines, checkpoint=checkpoint, key=pinned, trusted=b)
        assert report.warnings[0].startswith(
            f"entries {_size(a)}..{_size(b) - 1} were lost in a restore"
        )
    report = verify_export(lines, checkpoint=checkpoint, key=old, trusted=a)
    assert len(report.warnings) == 1
    assert "rests on its two signatures alone" in report.warnings[0]
