"""Throwaway instances (a data dir, a SQLite file or a scratch PostgreSQL database, demo staff)
and the `probity serve` / `probity worker` processes run against them.

Every process gets its own process group, so a kill -9 or a cleanup reaches all of it.
"""

from __future__ import annotations

import contextlib
import os
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path

from sqlalchemy import Engine
from sqlalchemy.engine import make_url

from bench.scratch import scratch_database
from service.config import KdfSettings, Settings
from service.db import make_engine, normalise_url
from service.instance.demo import ensure_demo

__all__ = ["Instance", "Proc", "free_port", "instance", "kill_group"]

ROOT = Path(__file__).resolve().parents[2]
PROBITY = str(Path(sys.executable).parent / "probity")
CHEAP_KDF = KdfSettings(time_cost=1, memory_kib=64, lanes=1, recovery_work_factor=10)
STAFF = "sam.supervisor"  # demo supervisor of us-border-integrity (el-paso-pd's compartment)


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def kill_group(proc: subprocess.Popen[bytes], sig: int = signal.SIGKILL) -> None:
    """Signal the process's whole group (uvicorn may have children) and reap it."""
    if proc.poll() is None:
        with contextlib.suppress(ProcessLookupError):
            os.killpg(proc.pid, sig)
    try:
        proc.wait(timeout=15)
    except subprocess.TimeoutExpired:
        with contextlib.suppress(ProcessLookupError):
            os.killpg(proc.pid, signal.SIGKILL)
        proc.wait(timeout=15)


@dataclass
class Instance:
    """One initialised demo instance; `database_url` is what its processes use."""

    backend: str
    root: Path  # logs and scratch files; never on the data dir's filesystem
    data_dir: Path
    database_url: str
    staff_password: str = ""
    staff_totp: str = ""
    procs: list[subprocess.Popen[bytes]] = field(default_factory=list)
    _engine: Engine | None = None

    def settings(self, database_url: str | None = None) -> Settings:
        url = self.database_url if database_url is None else database_url
        return Settings(data_dir=self.data_dir, database_url=url, kdf=CHEAP_KDF)

    def env(self, **extra: str) -> dict[str, str]:
        env = {
            **os.environ,
            "PYTHONPATH": str(ROOT),
            "PROBITY_DATA_DIR": str(self.data_dir),
            "PROBITY_DATABASE_URL": self.database_url,
            "PROBITY_KDF__TIME_COST": str(CHEAP_KDF.time_cost),
            "PROBITY_KDF__MEMORY_KIB": str(CHEAP_KDF.memory_kib),
            "PROBITY_LOG_LEVEL": "WARNING",
        }
        env.update(extra)
        return env

    @property
    def engine(self) -> Engine:
        """The harness's own engine, for checks (not the server's)."""
        if self._engine is None:
            self._engine = make_engine(self.database_url)
        return self._engine

    def sqlite_path(self) -> Path | None:
        url = make_url(self.database_url)
        return Path(url.database or "") if url.drivername.startswith("sqlite") else None

    def start(self, args: list[str], log_name: str, **env: str) -> subprocess.Popen[bytes]:
        with (self.root / log_name).open("ab") as sink:
            proc = subprocess.Popen(
                [PROBITY, *args],
                env=self.env(**env),
                stdout=sink,
                stderr=subprocess.STDOUT,
                start_new_session=True,
                cwd=self.root,
            )
        self.procs.append(proc)
        return proc

    def run(self, args: list[str], **env: str) -> subprocess.CompletedProcess[str]:
        return subprocess.run(
            [PROBITY, *args],
            env=self.env(**env),
            capture_output=True,
            text=True,
            check=False,
            cwd=self.root,
            timeout=300,
        )

    def cleanup(self) -> None:
        for proc in self.procs:
            kill_group(proc)
        self.procs.clear()
        if self._engine is not None:
            self._engine.dispose()
            self._engine = None


@contextlib.contextmanager
def _database(backend: str, data: Path, pg_url: str | None) -> Iterator[str]:
    """A fresh SQLite file in `data`, or a scratch database on `pg_url`'s server."""
    if backend == "sqlite":
        yield f"sqlite:///{data / 'probity.db'}"
        return
    if not pg_url:
        raise RuntimeError("PostgreSQL backend needs PROBITY_TEST_DATABASE_URL or --pg-url")
    prefix = f"{make_url(normalise_url(pg_url)).database or 'probity'}_dur"
    with scratch_database(pg_url, prefix) as url:
        yield url


@contextlib.contextmanager
def instance(
    backend: str, root: Path, pg_url: str | None, *, data_dir: Path | None = None
) -> Iterator[Instance]:
    """Initialise a demo instance (`probity demo`'s code, cheap KDF); clean up everything after."""
    root.mkdir(parents=True, exist_ok=True)
    data = data_dir if data_dir is not None else root / "data"
    data.mkdir(parents=True, exist_ok=True)
    with _database(backend, data, pg_url) as url:
        inst = Instance(backend=backend, root=root, data_dir=data, database_url=url)
        engine = make_engine(url)
        try:
            accounts = ensure_demo(engine, inst.settings())
        finally:
            engine.dispose()
        staff = next(a for a in accounts if a.username == STAFF)
        inst.staff_password, inst.staff_totp = staff.password, staff.totp_secret
        try:
            yield inst
        finally:
            inst.cleanup()


class Proc:
    """`probity serve` on a fixed port, restartable after a kill -9."""

    def __init__(self, inst: Instance, *, port: int | None = None, **env: str) -> None:
        self.inst, self.port, self.env = inst, port or free_port(), env
        self.proc: subprocess.Popen[bytes] | None = None
        self.restarts = 0

    def start(self, *, wait: float = 60.0) -> float:
        """Start and wait for /healthz; returns the seconds it took."""
        began = time.monotonic()
        args = ["serve", "--port", str(self.port)]
        self.proc = self.inst.start(args, f"serve-{self.port}.log", **self.env)
        while time.monotonic() - began < wait:
            if self.proc.poll() is not None:
                raise RuntimeError(f"probity serve exited ({self.proc.returncode}); see logs")
            with (
                contextlib.suppress(OSError),
                socket.create_connection(("127.0.0.1", self.port), timeout=1),
            ):
                return time.monotonic() - began
            time.sleep(0.05)
        raise RuntimeError("probity serve did not start in time")

    def kill9(self) -> None:
        if self.proc is not None:
            kill_group(self.proc)

    def restart(self) -> float:
        self.kill9()
        self.restarts += 1
        return self.start()

    def stop(self) -> None:
        if self.proc is not None:
            kill_group(self.proc, signal.SIGTERM)
