"""The data directory is 0700 and every file in it 0600 (issue 10): after `probity init`, after
`probity demo`, and after a live server has served requests (SQLite's -wal and -shm included)."""

from __future__ import annotations

import os
import stat
import subprocess
import urllib.request
from collections.abc import Iterator
from pathlib import Path

import pytest

from service.config import Settings
from tests.live import PROBITY, live_server, server_env

PASSWORD = "correct horse battery staple 42"


def loose_modes(root: Path) -> list[str]:
    """Every path under `root` (itself included) readable by group or others."""
    found = []
    for path in [root, *root.rglob("*")]:
        mode = stat.S_IMODE(path.stat().st_mode)
        wanted = 0o700 if path.is_dir() else 0o600
        if mode & 0o077 or (path.is_dir() and mode != wanted):
            found.append(f"{path.relative_to(root.parent)} {oct(mode)}")
    return found


@pytest.fixture
def sqlite_settings(tmp_path: Path) -> Iterator[Settings]:
    # The usual default umask: the commands must not rely on the caller's being stricter.
    previous = os.umask(0o022)
    yield Settings(data_dir=tmp_path / "var", database_url="")
    os.umask(previous)


def _env(settings: Settings) -> dict[str, str]:
    env = server_env(settings)
    env.pop("PROBITY_DATABASE_URL")  # the SQLite default inside the data directory
    return env


def test_init_then_serving_leaves_nothing_readable_by_others(
    sqlite_settings: Settings, tmp_path: Path
) -> None:
    env = _env(sqlite_settings)
    init = subprocess.run(
        [PROBITY, "init", "--password-stdin", "--recovery-file", str(tmp_path / "recovery.age")],
        input=f"{PASSWORD}\n{PASSWORD}\n",
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert init.returncode == 0, init.stderr
    data_dir = sqlite_settings.data_dir
    assert (data_dir / "probity.db").exists()
    assert loose_modes(data_dir) == []
    with live_server(env, tmp_path / "server.log") as base:
        for path in ("/readyz", "/staff/login", "/"):
            with urllib.request.urlopen(base + path, timeout=5) as response:  # noqa: S310
                assert response.status == 200
        assert (data_dir / "probity.db-wal").exists()
        assert loose_modes(data_dir) == []


def test_demo_data_directory_is_private(sqlite_settings: Settings) -> None:
    demo = subprocess.run(
        [PROBITY, "demo"], env=_env(sqlite_settings), capture_output=True, text=True, timeout=120
    )
    assert demo.returncode == 0, demo.stderr
    assert loose_modes(sqlite_settings.data_dir) == []
