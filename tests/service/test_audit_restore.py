"""The restore statement (issue 13): a restored log says what it lost, signed, in the log itself,
and the signer's memory of the lost checkpoint is kept as evidence instead of raising an alarm."""

from __future__ import annotations

import stat

import pytest
from sqlalchemy import Engine, func, select

from crypto.checkpoint import Checkpoint, parse_body, sign_checkpoint
from crypto.note import generate_signer
from crypto.statement import Restore, open_restore
from service.audit.alarm import SIGNED_RECORD_FILE, raise_alarm, read_alarm, read_signed_record
from service.audit.log import log_size
from service.audit.models import AuditEntry, AuditStatement
from service.audit.statements import list_statements, record_restore
from service.config import Settings
from service.errors import InvalidInput
from service.instance.keys import load_log_signer
from tests.factories import init_instance, transaction
from tests.service.audit_util import fill
from tests.service.restore_util import roll_back_log, sign


@pytest.fixture
def lost(settings: Settings, engine: Engine) -> tuple[str, str]:
    """A log signed at A, grown and signed at B, then rolled back to A (the backup)."""
    init_instance(engine, settings)
    fill(engine, 20)
    a = sign(engine, settings)
    fill(engine, 15)
    b = sign(engine, settings)
    roll_back_log(engine, parse_body(a.split("\n\n")[0] + "\n").size)
    return a, b


def _cp(note: str) -> Checkpoint:
    return parse_body(note.split("\n\n")[0] + "\n")


def restore(engine: Engine, settings: Settings, *, backup: str | None, last: str | None) -> str:
    with transaction(engine) as session:
        return record_restore(session, settings, backup_checkpoint=backup, last_checkpoint=last)


def test_restore_statement_names_backup_and_last_and_is_signed_by_the_log_key(
    settings: Settings, engine: Engine, lost: tuple[str, str]
) -> None:
    a, b = lost
    note = restore(engine, settings, backup=a, last=b)
    statement = open_restore(note, load_log_signer(settings.effective_keys_dir).verifier)
    assert isinstance(statement, Restore)
    assert (statement.backup.size, statement.backup.root) == (_cp(a).size, _cp(a).root)
    assert statement.last is not None
    assert (statement.last.size, statement.last.root) == (_cp(b).size, _cp(b).root)
    with transaction(engine) as session:
        assert [s.note for s in list_statements(session)] == [note]
        entry = session.scalars(select(AuditEntry).order_by(AuditEntry.index.desc())).first()
        assert entry is not None
        assert entry.action == "instance.restored"
        assert entry.index == _cp(a).size  # the restored log continues right after the backup
        assert b"backup_size" in entry.canonical
        assert b"root" not in entry.canonical


def test_remembered_checkpoint_is_moved_aside_as_evidence_and_signing_goes_on(
    settings: Settings, engine: Engine, lost: tuple[str, str]
) -> None:
    a, b = lost
    keys = settings.effective_keys_dir
    restore(engine, settings, backup=None, last=None)  # `last` comes from the signer's memory
    assert read_signed_record(keys) is None
    [evidence] = keys.glob(f"{SIGNED_RECORD_FILE}.restored-*")
    assert evidence.read_text() == b
    assert stat.S_IMODE(evidence.stat().st_mode) == 0o600
    [kept] = keys.glob("audit-restore-*.note")
    assert f"\nlast {_cp(b).size} " in kept.read_text()
    fill(engine, 3)
    new = sign(engine, settings)  # no alarm: the restore explained the shorter log
    assert read_alarm(keys) is None
    assert _cp(new).size == _cp(a).size + 1 + 3


def test_an_alarm_raised_before_the_restore_is_kept_aside_not_dropped(
    settings: Settings, engine: Engine, lost: tuple[str, str]
) -> None:
    keys = settings.effective_keys_dir
    raise_alarm(keys, "log_truncated", 0)
    restore(engine, settings, backup=None, last=None)
    assert read_alarm(keys) is None
    assert len(list(keys.glob("audit-alarm.json.restored-*"))) == 1


def test_a_rolled_back_restore_leaves_no_statement_and_touches_no_file(
    settings: Settings, engine: Engine, lost: tuple[str, str]
) -> None:
    a, b = lost
    keys = settings.effective_keys_dir
    with pytest.raises(RuntimeError), transaction(engine) as session:  # noqa: PT012
        record_restore(session, settings, backup_checkpoint=a, last_checkpoint=b)
        raise RuntimeError("the restore failed after the statement")
    assert read_signed_record(keys) == b
    assert not list(keys.glob("audit-restore-*"))
    with transaction(engine) as session:
        assert session.scalar(select(func.count()).select_from(AuditStatement)) == 0
        assert log_size(session) == _cp(a).size


def test_checkpoints_not_signed_by_the_log_key_are_refused(
    settings: Settings, engine: Engine, lost: tuple[str, str]
) -> None:
    a, b = lost
    cp = _cp(b)
    forged = sign_checkpoint(cp, generate_signer(cp.origin))
    edited = b.replace(f"\n{cp.size}\n", f"\n{cp.size + 1}\n")
    for backup, last in ((forged, None), (a, forged), (a, edited), (a, "not a note")):
        with pytest.raises(InvalidInput):
            restore(engine, settings, backup=backup, last=last)
    with transaction(engine) as session:
        assert session.scalar(select(func.count()).select_from(AuditStatement)) == 0


def test_a_backup_checkpoint_beyond_the_restored_log_is_refused(
    settings: Settings, engine: Engine, lost: tuple[str, str]
) -> None:
    _, b = lost
    with pytest.raises(InvalidInput, match="beyond"):
        restore(engine, settings, backup=b, last=None)
