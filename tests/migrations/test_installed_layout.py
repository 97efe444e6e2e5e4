"""The image installs the packages into site-packages (Dockerfile: `pip install .`), where the
folder beside `service` named alembic is the Alembic library, not our migrations: `probity db
upgrade`, `probity init` and /readyz must still find ours (in the working directory, /app)."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path

import alembic

ROOT = Path(__file__).resolve().parents[2]


def test_an_installed_service_package_finds_the_projects_migrations(tmp_path: Path) -> None:
    site = tmp_path / "site-packages"
    site.mkdir()
    for package in ("crypto", "service"):
        shutil.copytree(ROOT / package, site / package)
    (site / "alembic").symlink_to(Path(alembic.__file__).parent)  # the library, as pip puts it
    app = tmp_path / "app"  # WORKDIR /app holds alembic.ini and alembic/
    shutil.copytree(ROOT / "alembic", app / "alembic")
    code = "from service.migrations import head_revision; print(head_revision())"
    env = {**os.environ, "PYTHONPATH": str(site)}
    found = subprocess.run(
        [sys.executable, "-c", code], cwd=app, env=env, capture_output=True, text=True, timeout=60
    )
    expected = subprocess.run(
        [sys.executable, "-c", code], cwd=ROOT, capture_output=True, text=True, timeout=60
    )
    assert expected.returncode == 0, expected.stderr[-2000:]
    assert found.returncode == 0, found.stderr[-2000:]
    assert found.stdout == expected.stdout
