"""Attack (review of issue 13): `probity restore --force --keyring EVIL` with a keyring that
opens (it is only encrypted to the recovery recipient, a public key) but holds a bucket name
the key table cannot take. It was read "checked before anything is touched", yet bucket names
were only checked by load_keyring, after PostgreSQL had already dropped the live database and
loaded the backup: the restore failed half done (the backup's rows, no bucket keys, the old
keys directory, no restore statement). The keyring must be refused before anything moves."""

from __future__ import annotations

import base64
import json
import secrets
from pathlib import Path

import pytest
from sqlalchemy import Engine, func, select

from crypto.age import encrypt_bytes, recipient_of
from service.config import Settings
from service.db import make_engine, make_session_factory
from service.errors import InvalidInput
from service.retention.keyring import read_keyring
from service.retention.models import RetentionKey
from service.tips.models import Envelope, Tip
from tests.factories import Border, intake
from tests.service.backup_util import backup, destroy, restore

BAD_NAMES = ["x" * 41, "", "../../etc", "open-2026-12\n"]


def _keyring(path: Path, border: Border, keys: dict[str, bytes]) -> Path:
    body = {
        "format": "probity-retention-keyring/v1",
        "written": "2026-12-03T00:00:00+00:00",
        "keys": {name: base64.b64encode(key).decode() for name, key in keys.items()},
    }
    recipient = recipient_of(border.recovery_identity)
    path.write_bytes(encrypt_bytes(json.dumps(body).encode(), [recipient]))
    return path


def _state(settings: Settings) -> tuple[int, int]:
    engine = make_engine(settings.effective_database_url)
    try:
        with make_session_factory(engine)() as session:
            tips = session.scalar(select(func.count()).select_from(Tip)) or 0
            keys = session.scalar(select(func.count()).select_from(RetentionKey)) or 0
            return tips, keys
    finally:
        engine.dispose()


@pytest.mark.parametrize("bad", BAD_NAMES)
def test_read_keyring_refuses_bad_bucket_names(
    cheap_kdf_env: Settings, border: Border, tmp_path: Path, bad: str
) -> None:
    path = _keyring(tmp_path / "k.age", border, {bad: secrets.token_bytes(32)})
    with pytest.raises(InvalidInput):
        read_keyring(path, [border.recovery_identity])


def test_a_keyring_with_a_bad_bucket_name_touches_nothing_even_with_force(
    cheap_kdf_env: Settings, engine: Engine, border: Border, tmp_path: Path
) -> None:
    settings = cheap_kdf_env
    intake(engine, settings)
    file = tmp_path / "backup.age"
    assert backup(file).exit_code == 0
    intake(engine, settings)  # after the backup: the live instance differs from it
    engine.dispose()
    before = _state(settings)
    assert before[0] == 2
    assert before[1] > 0
    keys_before = sorted(p.name for p in settings.effective_keys_dir.iterdir())

    escrow = settings.effective_keys_dir / "retention-keyring.age"
    good = read_keyring(escrow, [border.recovery_identity])
    evil = _keyring(tmp_path / "evil.age", border, {**good, "x" * 41: secrets.token_bytes(32)})
    result = restore(settings, file, "--force", "--keyring", str(evil))
    assert result.exit_code == 1, result.output
    assert "bucket" in result.output
    assert _state(settings) == before  # the live database as it was
    assert sorted(p.name for p in settings.effective_keys_dir.iterdir()) == keys_before


def test_keys_for_buckets_the_backup_does_not_use_are_not_loaded(
    cheap_kdf_env: Settings, engine: Engine, border: Border, tmp_path: Path
) -> None:
    # The keyring is only encrypted to the recovery recipient (public): whoever hands one over
    # could plant the key of a future intake bucket, and so know the key later tips are sealed
    # under (their purge would no longer reach copies of them). Only keys the restored
    # envelopes use are put back; the worker and intake create fresh ones for the rest.
    settings = cheap_kdf_env
    intake(engine, settings)
    file = tmp_path / "backup.age"
    assert backup(file).exit_code == 0
    engine.dispose()
    escrow = settings.effective_keys_dir / "retention-keyring.age"
    good = read_keyring(escrow, [border.recovery_identity])
    planted = {"open-2099-01": secrets.token_bytes(32), "expires-2099-02": secrets.token_bytes(32)}
    evil = _keyring(tmp_path / "evil.age", border, {**good, **planted})
    destroy(settings)
    result = restore(settings, file, "--keyring", str(evil))
    assert result.exit_code == 0, result.output
    restored = make_engine(settings.effective_database_url)
    try:
        with make_session_factory(restored)() as session:
            loaded = set(session.scalars(select(RetentionKey.bucket)))
            used = set(session.scalars(select(Envelope.bucket)))
    finally:
        restored.dispose()
    assert loaded == used
    assert not loaded & set(planted)
    assert "2 keys of the keyring are for buckets no restored envelope uses" in result.output
