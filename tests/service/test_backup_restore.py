"""`probity backup` while tips arrive, the instance destroyed, `probity restore`: every tip in
the backup opens for its audience and its receipt, the log verifies against the checkpoint
published before, and no tip whose receipt was shown before the backup began is missing."""

from __future__ import annotations

import sqlite3
import threading
import uuid
from pathlib import Path

import pytest
from sqlalchemy import Engine, select

from service.audit.alarm import read_alarm
from service.audit.checkpoints import current_checkpoint
from service.audit.rotation import rotate_log_key
from service.cli import app
from service.config import Settings
from service.db import make_engine, make_session_factory, session_scope, utcnow
from service.instance.context import load_context
from service.tips.models import Tip
from service.tips.reporter_auth import login_with_receipt
from service.tips.view import tip_view
from tests.factories import Border, in_tx, intake, principal, transaction
from tests.service.audit_util import fill
from tests.service.backup_util import (
    backup,
    decrypt_with_age_cli,
    destroy,
    members,
    restore,
    runner,
)

NARRATIVE = "Lieutenant Quiroga-Vance sells the detainee lists, case {n}"


class _Reporters(threading.Thread):
    """Submits tips one after another until stopped; remembers each receipt once shown."""

    def __init__(self, engine: Engine, settings: Settings) -> None:
        super().__init__(daemon=True)
        self.engine, self.settings = engine, settings
        self.shown: dict[uuid.UUID, tuple[str, str]] = {}  # tip id -> (receipt, narrative)
        self.stop = threading.Event()
        self.started_two = threading.Event()
        self.error: BaseException | None = None

    def run(self) -> None:
        n = 0
        try:
            while not self.stop.is_set():
                narrative = NARRATIVE.format(n=n)
                tip_id, receipt = intake(self.engine, self.settings, {"narrative": narrative})
                self.shown[tip_id] = (receipt, narrative)
                n += 1
                if n >= 2:
                    self.started_two.set()
        except BaseException as exc:  # reported by the test
            self.error = exc
            self.started_two.set()


def _published_checkpoint(engine: Engine, settings: Settings, path: Path) -> Path:
    note = in_tx(engine, lambda session: current_checkpoint(session, settings))
    path.write_text(note, encoding="utf-8")
    return path


def _log_key(path: Path) -> Path:
    result = runner.invoke(app, ["audit", "key"])
    assert result.exit_code == 0, result.output
    path.write_text(result.output)
    return path


def _verify_log(tmp: Path, trusted: Path, pinned: Path | None = None) -> tuple[int, str]:
    """`probity audit export` of the restored log, then `audit verify --trusted` (the key
    pinned: `pinned`, else the current one)."""
    key, export = pinned or _log_key(tmp / "log.pub"), tmp / "audit.jsonl"
    export.unlink(missing_ok=True)
    Path(f"{export}.checkpoint").unlink(missing_ok=True)
    result = runner.invoke(app, ["audit", "export", str(export)])
    assert result.exit_code == 0, result.output
    argv = ["audit", "verify", str(export), "--checkpoint", f"{export}.checkpoint"]
    result = runner.invoke(app, [*argv, "--key", str(key), "--trusted", str(trusted)])
    return result.exit_code, result.output


def _backup_while_reporting(
    engine: Engine, settings: Settings, file: Path
) -> tuple[_Reporters, set[uuid.UUID]]:
    reporters = _Reporters(engine, settings)
    reporters.start()
    assert reporters.started_two.wait(60)
    shown_before = set(reporters.shown)  # receipts already shown when the backup begins
    try:
        result = backup(file)
        assert result.exit_code == 0, result.output
    finally:
        reporters.stop.set()
        reporters.join(60)
    assert reporters.error is None, reporters.error
    return reporters, shown_before


def _check_restored_tips(
    settings: Settings, border: Border, reporters: _Reporters, shown_before: set[uuid.UUID]
) -> set[uuid.UUID]:
    engine = make_engine(settings.effective_database_url)
    try:
        with session_scope(make_session_factory(engine)) as session:
            restored = set(session.scalars(select(Tip.id)))
        # Every tip whose receipt was shown before the backup began is there...
        assert shown_before <= restored
        # ... and the backup holds no tip the reporters did not get a receipt for.
        assert restored <= set(reporters.shown)
        for tip_id in restored:
            receipt, narrative = reporters.shown[tip_id]
            with session_scope(make_session_factory(engine)) as session:
                view = tip_view(session, principal(border.reviewer_us), tip_id)
                assert view.report["narrative"] == narrative
            with session_scope(make_session_factory(engine)) as session:
                ctx = load_context(session, settings)
                outcome = login_with_receipt(session, ctx, receipt, now=utcnow())
                assert outcome.token is not None
    finally:
        engine.dispose()
    return restored


def test_a_backup_taken_while_tips_arrive_restores_every_tip_it_holds(
    cheap_kdf_env: Settings, engine: Engine, border: Border, tmp_path: Path
) -> None:
    settings = cheap_kdf_env
    published = _published_checkpoint(engine, settings, tmp_path / "published.cp")
    file = tmp_path / "backups" / "probity.age"
    file.parent.mkdir()
    reporters, shown_before = _backup_while_reporting(engine, settings, file)
    assert not Path(f"{file}.tmp").exists()
    assert oct(file.stat().st_mode & 0o777) == "0o600"
    assert not list(settings.data_dir.glob(".backup-*"))  # the snapshot was deleted
    engine.dispose()

    destroy(settings)
    result = restore(settings, file, "--last-checkpoint", str(published))
    assert result.exit_code == 0, result.output
    assert "Restored the backup" in result.output

    restored = _check_restored_tips(settings, border, reporters, shown_before)
    assert len(restored) >= 2
    code, output = _verify_log(tmp_path, published)
    assert code == 0, output
    assert "OK:" in output
    assert oct(settings.effective_keys_dir.stat().st_mode & 0o777) == "0o700"
    assert not list(settings.data_dir.glob(".restore-*"))


def test_the_backup_holds_no_tip_plaintext_only_ciphertext(
    cheap_kdf_env: Settings, engine: Engine, border: Border, tmp_path: Path
) -> None:
    narrative = "Comandante Ibarra-Lentz hides the seized rifles in warehouse nine"
    intake(engine, cheap_kdf_env, {"narrative": narrative})
    file = tmp_path / "b.age"
    assert backup(file).exit_code == 0
    plaintext = decrypt_with_age_cli(file, border.recovery_identity, tmp_path)
    found = members(plaintext)
    assert {"manifest.json", "keys/log-signing.key", "keys/blind-index.key"} <= set(found)
    assert any(name.startswith("database/") for name in found)
    for needle in (narrative, "Ibarra-Lentz", "warehouse nine"):
        assert needle.encode() not in plaintext
        assert needle.encode("utf-16-le") not in plaintext
    # The encrypted backup itself says nothing either.
    assert b"Ibarra" not in file.read_bytes()


def _size_of(note: str) -> int:
    return int(note.splitlines()[1])


@pytest.mark.parametrize("how", ["destroyed", "force"])
def test_a_restore_older_than_the_last_signature_says_what_was_lost(
    cheap_kdf_env: Settings, engine: Engine, border: Border, tmp_path: Path, how: str
) -> None:
    settings = cheap_kdf_env
    fill(engine, 3)
    kept_size = _size_of(
        _published_checkpoint(engine, settings, tmp_path / "before.cp").read_text()
    )
    file = tmp_path / "b.age"
    assert backup(file).exit_code == 0
    fill(engine, 5)  # written after the backup, then lost with the instance
    published = _published_checkpoint(engine, settings, tmp_path / "published.cp")
    lost_size = _size_of(published.read_text())
    engine.dispose()
    if how == "destroyed":
        destroy(settings)  # the operator still has the published checkpoint
        result = restore(settings, file, "--last-checkpoint", str(published))
    else:  # the keys directory remembers the last signature by itself
        result = restore(settings, file, "--force")
    assert result.exit_code == 0, result.output
    assert "probity-log-restore/1" in result.output
    assert f"last {lost_size} " in result.output
    keys = settings.effective_keys_dir
    assert len(list(keys.glob("audit-restore-*.note"))) == 1
    assert len(list(keys.glob("audit-last-signed.note.restored-*"))) == (how == "force")
    # The restored instance signs again, with no alarm, and the log verifies from before the
    # backup; against the lost checkpoint only thanks to the restore statement, which says so.
    restored = make_engine(settings.effective_database_url)
    try:
        note = in_tx(restored, lambda session: current_checkpoint(session, settings))
    finally:
        restored.dispose()
    assert read_alarm(keys) is None
    assert _size_of(note) < lost_size
    code, output = _verify_log(tmp_path, tmp_path / "before.cp")
    assert code == 0, output
    code, output = _verify_log(tmp_path, published)
    assert code == 0, output
    assert f"WARNING: entries {kept_size}..{lost_size - 1} were lost in a restore" in output


def test_tips_still_in_the_sqlite_wal_are_in_the_backup(
    cheap_kdf_env: Settings, engine: Engine, border: Border, tmp_path: Path
) -> None:
    settings = cheap_kdf_env
    if not settings.effective_database_url.startswith("sqlite"):
        pytest.skip("the WAL is SQLite's")
    engine.dispose()
    server = make_engine(settings.effective_database_url, manual_checkpoints=True)  # as served
    try:
        in_tx(server, lambda s: s.connection().exec_driver_sql("PRAGMA wal_checkpoint(TRUNCATE)"))
        tips = {intake(server, settings)[0] for _ in range(3)}
        db = Path(settings.effective_database_url.removeprefix("sqlite:///"))
        assert Path(f"{db}-wal").stat().st_size > 0
        # What a plain file copy would hold: the database file without its WAL.
        copy = tmp_path / "copy.db"
        copy.write_bytes(db.read_bytes())
        with sqlite3.connect(copy) as conn:
            assert conn.execute("SELECT count(*) FROM tips").fetchone() == (0,)
        assert backup(tmp_path / "b.age").exit_code == 0
    finally:
        server.dispose()
    destroy(settings)
    assert restore(settings, tmp_path / "b.age").exit_code == 0
    restored = make_engine(settings.effective_database_url)
    try:
        with session_scope(make_session_factory(restored)) as session:
            assert set(session.scalars(select(Tip.id))) == tips
    finally:
        restored.dispose()


def test_a_rotated_log_key_is_backed_up_with_the_retired_one(
    cheap_kdf_env: Settings, engine: Engine, border: Border, tmp_path: Path
) -> None:
    settings = cheap_kdf_env
    fill(engine, 4)
    before = _published_checkpoint(engine, settings, tmp_path / "before.cp")  # old key
    pinned = _log_key(tmp_path / "old.pub")
    with transaction(engine) as session:
        rotate_log_key(session, settings)
    fill(engine, 2)
    engine.dispose()
    keys = settings.effective_keys_dir
    retired = {p.name: p.read_bytes() for p in keys.glob("log-signing.*.retired.key")}
    current = (keys / "log-signing.key").read_bytes()
    assert len(retired) == 1
    assert backup(tmp_path / "b.age").exit_code == 0
    destroy(settings)
    assert restore(settings, tmp_path / "b.age").exit_code == 0
    assert (keys / "log-signing.key").read_bytes() == current
    assert {p.name: p.read_bytes() for p in keys.glob("log-signing.*.retired.key")} == retired
    code, output = _verify_log(tmp_path, before, pinned)  # the chain leads to the new key
    assert code == 0, output
    assert "OK:" in output
