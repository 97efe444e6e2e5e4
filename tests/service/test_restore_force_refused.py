"""Attack (review of issue 13): `probity restore --force` over a live PostgreSQL instance with a
`--last-checkpoint` that is not signed by the backup's log key (another instance's, or a forged
one). The restore dropped the live database and loaded the backup before record_restore looked
at the checkpoint; its refusal then rolled back only the restore statement and the bucket keys:
the instance was left as the backup's rows, with no bucket keys and the old keys directory. A
checkpoint that no key of the log opens is refused before anything is replaced. Both backends."""

from __future__ import annotations

from pathlib import Path

from sqlalchemy import Engine, func, select

from service.audit.checkpoints import current_checkpoint
from service.config import Settings
from service.db import make_engine, make_session_factory, session_scope
from service.retention.models import RetentionKey
from service.tips.models import Tip
from tests.conftest import CHEAP_KDF
from tests.factories import Border, init_instance, intake
from tests.service.backup_util import backup, restore


def _state(settings: Settings) -> tuple[int, int]:
    engine = make_engine(settings.effective_database_url)
    try:
        with make_session_factory(engine)() as session:
            tips = session.scalar(select(func.count()).select_from(Tip)) or 0
            keys = session.scalar(select(func.count()).select_from(RetentionKey)) or 0
            return tips, keys
    finally:
        engine.dispose()


def _foreign_checkpoint(tmp_path: Path) -> Path:
    other = Settings(
        data_dir=tmp_path / "other" / "var",
        database_url=f"sqlite:///{tmp_path / 'other' / 'probity.db'}",
        kdf=CHEAP_KDF,
    )
    engine = make_engine(other.effective_database_url)
    try:
        init_instance(engine, other)
        with session_scope(make_session_factory(engine)) as session:
            foreign = current_checkpoint(session, other)
    finally:
        engine.dispose()
    path = tmp_path / "foreign.cp"
    path.write_text(foreign)
    return path


def test_a_foreign_last_checkpoint_replaces_nothing_even_with_force(
    cheap_kdf_env: Settings, engine: Engine, border: Border, tmp_path: Path
) -> None:
    settings = cheap_kdf_env
    intake(engine, settings)
    file = tmp_path / "backup.age"
    assert backup(file).exit_code == 0
    intake(engine, settings)  # the live instance moves on after the backup
    engine.dispose()
    before = _state(settings)
    assert before[0] == 2
    keys_before = sorted(p.name for p in settings.effective_keys_dir.iterdir())

    foreign = _foreign_checkpoint(tmp_path)
    result = restore(settings, file, "--force", "--last-checkpoint", str(foreign))
    assert result.exit_code == 1, result.output
    assert "not a checkpoint signed by this log's key" in result.output
    assert _state(settings) == before
    assert sorted(p.name for p in settings.effective_keys_dir.iterdir()) == keys_before
