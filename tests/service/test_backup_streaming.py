"""Backup and restore stream: a database many times larger than the memory they use."""

from __future__ import annotations

import os
import tracemalloc
from pathlib import Path

from sqlalchemy import Engine, text

from service.config import Settings
from service.db import make_engine
from service.instance.backup import create_backup
from service.instance.restore import restore_backup
from tests.factories import Border
from tests.service.backup_util import destroy, offsite_keyring

MIB = 1 << 20
ROWS = 24  # one MiB of random bytes each: incompressible, like ciphertext


def _peak(action: object) -> int:
    tracemalloc.start()
    try:
        action()  # type: ignore[operator]
        return tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()


def test_a_large_database_is_backed_up_and_restored_in_bounded_memory(
    cheap_kdf_env: Settings, engine: Engine, border: Border, tmp_path: Path
) -> None:
    kind = "BLOB" if engine.dialect.name == "sqlite" else "BYTEA"
    with engine.begin() as conn:
        conn.execute(text(f"CREATE TABLE ballast_test (b {kind})"))
        for _ in range(ROWS):
            conn.execute(text("INSERT INTO ballast_test VALUES (:b)"), {"b": os.urandom(MIB)})
    file = tmp_path / "big.age"
    peak = _peak(lambda: create_backup(engine, cheap_kdf_env, file))
    engine.dispose()
    assert file.stat().st_size > ROWS * MIB
    assert peak < 6 * MIB, peak
    destroy(cheap_kdf_env)
    identity = border.recovery_identity
    keyring = offsite_keyring(cheap_kdf_env)
    peak = _peak(
        lambda: restore_backup(cheap_kdf_env, file, recovery_identity=identity, keyring=keyring)
    )
    assert peak < 6 * MIB, peak
    restored = make_engine(cheap_kdf_env.effective_database_url)
    try:
        with restored.connect() as conn:
            total = conn.execute(text("SELECT sum(length(b)) FROM ballast_test")).scalar()
    finally:
        restored.dispose()
    assert total == ROWS * MIB
