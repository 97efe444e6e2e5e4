"""Helpers for the backup and restore tests: the CLI, destroying an instance, reading a backup
with the real `age` CLI."""

from __future__ import annotations

import io
import shutil
import subprocess
import tarfile
from pathlib import Path

from sqlalchemy import create_engine, text
from sqlalchemy.engine import make_url
from typer.testing import CliRunner, Result

from service.cli import app
from service.config import Settings
from service.db import normalise_url
from tests.factories import RECOVERY_PASSPHRASE, recovery_path

runner = CliRunner()


def offsite_keyring(settings: Settings) -> Path:
    """Where `destroy` keeps the keyring escrow, as an operator keeps its copy off the server."""
    return settings.data_dir.with_name(settings.data_dir.name + "-offsite-keyring.age")


def backup(file: Path) -> Result:
    return runner.invoke(app, ["backup", str(file)])


def restore(
    settings: Settings,
    file: Path,
    *extra: str,
    passphrase: str = RECOVERY_PASSPHRASE,
    recovery_file: Path | None = None,
) -> Result:
    recovery = recovery_file or recovery_path(settings)
    argv = ["restore", str(file), "--recovery-file", str(recovery), "--password-stdin", *extra]
    if "--keyring" not in extra and offsite_keyring(settings).exists():
        argv += ["--keyring", str(offsite_keyring(settings))]
    return runner.invoke(app, argv, input=passphrase + "\n")


def destroy(settings: Settings) -> None:
    """Lose the instance: its data directory, and its database (dropped and created empty).
    The keyring escrow survives off the server (`offsite_keyring`), as the operator keeps it."""
    escrow = settings.effective_keys_dir / "retention-keyring.age"
    if escrow.exists():
        shutil.copy2(escrow, offsite_keyring(settings))
    shutil.rmtree(settings.data_dir)
    url = make_url(normalise_url(settings.effective_database_url))
    if url.get_backend_name() == "sqlite":
        for suffix in ("", "-wal", "-shm"):
            Path(f"{url.database}{suffix}").unlink(missing_ok=True)
        return
    admin = create_engine(url.set(database="postgres"), isolation_level="AUTOCOMMIT")
    try:
        with admin.connect() as conn:
            conn.execute(text(f'DROP DATABASE "{url.database}" WITH (FORCE)'))
            conn.execute(text(f'CREATE DATABASE "{url.database}"'))
    finally:
        admin.dispose()


def decrypt_with_age_cli(file: Path, identity: str, tmp: Path) -> bytes:
    """The backup's plaintext (the tar stream), decrypted by the stock `age` CLI."""
    key = tmp / "identity.txt"
    key.write_text(identity + "\n")
    key.chmod(0o600)
    done = subprocess.run(
        ["age", "--decrypt", "-i", str(key), str(file)], capture_output=True, check=True
    )
    return done.stdout


def members(plaintext: bytes) -> dict[str, bytes]:
    with tarfile.open(fileobj=io.BytesIO(plaintext), mode="r:") as tar:
        found = {}
        for info in tar:
            file = tar.extractfile(info)
            assert file is not None
            found[info.name] = file.read()
        return found


def state_of(settings: Settings) -> list[str]:
    """What exists of the instance on disk (to show a refused restore left nothing)."""
    if not settings.data_dir.exists():
        return []
    return sorted(str(p.relative_to(settings.data_dir)) for p in settings.data_dir.rglob("*"))


def pg_dump_plain(dump: bytes, tmp: Path) -> str:
    """A custom-format dump as SQL text (pg_restore), to look inside it."""
    path = tmp / "db.pgdump"
    path.write_bytes(dump)
    done = subprocess.run(["pg_restore", "--file=-", str(path)], capture_output=True, check=True)
    return done.stdout.decode(errors="replace")
