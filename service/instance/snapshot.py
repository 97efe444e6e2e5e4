"""Consistent database snapshots for `probity backup`, and loading one back for `probity restore`.

SQLite: the online backup API copies the live database, WAL included, in one read transaction
(a plain file copy loses every commit still in the WAL). PostgreSQL: `pg_dump` in custom format
of a snapshot exported from a REPEATABLE READ transaction, which also reads the schema revision
and newest checkpoint, so all three describe the same moment. Loading runs `pg_restore`'s SQL
through `psql --single-transaction`: the database gets all of the backup or none of it.

The snapshot files hold what the database holds (ciphertext and public keys) and are created 0600
in the data directory; callers delete them.
"""

from __future__ import annotations

import contextlib
import os
import shutil
import sqlite3
import subprocess  # pg_dump, pg_restore and psql, with argument lists only
import tempfile
from contextlib import closing
from dataclasses import dataclass
from pathlib import Path
from typing import IO, Any

import psycopg
from sqlalchemy.engine import URL, make_url

from service.errors import Conflict, Unavailable

__all__ = [
    "SnapshotFacts",
    "empty_postgres",
    "load_postgres",
    "postgres_is_empty",
    "postgres_snapshot",
    "sqlite_path",
    "sqlite_snapshot",
]

_PIECE = 64 * 1024
_REVISION = "SELECT version_num FROM alembic_version"
_CHECKPOINT = "SELECT note FROM audit_checkpoints ORDER BY size DESC LIMIT 1"
_INSTALL_HINT = (
    "install the PostgreSQL client tools, the server's major version or newer "
    "(Debian/Ubuntu: apt-get install postgresql-client)"
)
# Everything a Probity schema creates in `public`, dropped before loading with --force.
_DROP_ALL = """
DO $$
DECLARE r record;
BEGIN
  FOR r IN SELECT tablename FROM pg_tables WHERE schemaname = 'public' LOOP
    EXECUTE 'DROP TABLE IF EXISTS public.' || quote_ident(r.tablename) || ' CASCADE';
  END LOOP;
  FOR r IN SELECT sequence_name FROM information_schema.sequences
           WHERE sequence_schema = 'public' LOOP
    EXECUTE 'DROP SEQUENCE IF EXISTS public.' || quote_ident(r.sequence_name) || ' CASCADE';
  END LOOP;
  FOR r IN SELECT table_name FROM information_schema.views WHERE table_schema = 'public' LOOP
    EXECUTE 'DROP VIEW IF EXISTS public.' || quote_ident(r.table_name) || ' CASCADE';
  END LOOP;
  FOR r IN SELECT p.oid::regprocedure AS fn FROM pg_proc p
           JOIN pg_namespace n ON n.oid = p.pronamespace
           WHERE n.nspname = 'public' AND NOT EXISTS (
             SELECT 1 FROM pg_depend d WHERE d.objid = p.oid AND d.deptype = 'e') LOOP
    EXECUTE 'DROP ROUTINE IF EXISTS ' || r.fn || ' CASCADE';
  END LOOP;
  FOR r IN SELECT t.typname FROM pg_type t JOIN pg_namespace n ON n.oid = t.typnamespace
           WHERE n.nspname = 'public' AND t.typtype IN ('e', 'c', 'd')
             AND NOT EXISTS (SELECT 1 FROM pg_class c WHERE c.reltype = t.oid) LOOP
    EXECUTE 'DROP TYPE IF EXISTS public.' || quote_ident(r.typname) || ' CASCADE';
  END LOOP;
END $$;
"""


@dataclass(frozen=True)
class SnapshotFacts:
    schema_revision: str | None
    checkpoint: str | None  # the newest signed audit checkpoint in the snapshot


def _facts(cursor: Any) -> SnapshotFacts:
    cursor.execute(_REVISION)
    revision = cursor.fetchone()
    cursor.execute(_CHECKPOINT)
    note = cursor.fetchone()
    return SnapshotFacts(revision[0] if revision else None, note[0] if note else None)


def sqlite_path(url: str) -> Path:
    database = make_url(url).database
    if not database or database == ":memory:":
        raise Conflict("an in-memory SQLite database cannot be backed up or restored")
    return Path(database)


def sqlite_snapshot(source: Path, dest: Path, excluded: tuple[str, ...]) -> SnapshotFacts:
    """Copy the live database at `source` into `dest` (an existing empty 0600 file)."""
    with (
        closing(sqlite3.connect(source, timeout=30)) as live,
        closing(sqlite3.connect(dest)) as copy,
    ):
        live.execute("PRAGMA busy_timeout=30000")
        # One step: one read transaction, a consistent snapshot that never blocks writers (WAL).
        live.backup(copy)
        # One self-contained file, no -wal beside it; the rollback journal of the deletes below
        # in memory, so no page of the excluded rows (bucket keys) is written to a journal file.
        copy.execute("PRAGMA journal_mode=MEMORY")
        copy.execute("PRAGMA secure_delete=ON")
        present = {row[0] for row in copy.execute("SELECT name FROM sqlite_master")}
        dropped = [table for table in excluded if table in present]
        for table in dropped:
            copy.execute(f'DELETE FROM "{table}"')  # noqa: S608 - our own constant names
        copy.commit()
        if dropped:
            copy.execute("VACUUM")  # no page of the deleted rows left behind
        return _facts(copy.cursor())


def _libpq(url: str) -> tuple[str, dict[str, str]]:
    """A libpq URI without the password, and an environment carrying it (not on argv)."""
    parsed: URL = make_url(url)
    env = dict(os.environ)
    if parsed.password is not None:
        env["PGPASSWORD"] = str(parsed.password)
    uri = parsed.set(drivername="postgresql", password=None)
    return uri.render_as_string(hide_password=False), env


def _tool(name: str) -> str:
    path = shutil.which(name)
    if path is None:
        raise Unavailable(f"{name} not found: {_INSTALL_HINT}")
    return path


def _run(argv: list[str], env: dict[str, str], what: str) -> None:
    done = subprocess.run(argv, env=env, capture_output=True, check=False)  # noqa: S603
    if done.returncode != 0:
        last = done.stderr.decode(errors="replace").strip().splitlines()[-1:] or ["failed"]
        raise Unavailable(f"{what}: {last[0]}")


def postgres_snapshot(url: str, dest: Path, excluded: tuple[str, ...]) -> SnapshotFacts:
    """`pg_dump` the database into `dest`, rows of `excluded` tables left out."""
    pg_dump = _tool("pg_dump")
    uri, env = _libpq(url)
    with psycopg.connect(uri, password=env.get("PGPASSWORD")) as conn:
        conn.isolation_level = psycopg.IsolationLevel.REPEATABLE_READ
        conn.read_only = True
        with conn.cursor() as cursor:
            cursor.execute("SELECT pg_export_snapshot()")
            row = cursor.fetchone()
            facts = _facts(cursor)
        assert row is not None  # noqa: S101 - the function always returns a row
        argv = [
            pg_dump,
            "--format=custom",
            "--compress=0",  # ciphertext does not compress
            "--no-owner",
            "--no-privileges",
            f"--snapshot={row[0]}",
            f"--file={dest}",
            *(f"--exclude-table-data=public.{table}" for table in excluded),
            f"--dbname={uri}",
        ]
        _run(argv, env, "pg_dump failed")  # while the snapshot's transaction is still open
    return facts


def postgres_is_empty(url: str) -> bool:
    uri, env = _libpq(url)
    with psycopg.connect(uri, password=env.get("PGPASSWORD")) as conn:
        found = conn.execute(
            "SELECT count(*) FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace "
            "WHERE n.nspname = 'public' AND c.relkind IN ('r', 'p', 'v', 'm', 'S') "
            "UNION ALL SELECT count(*) FROM pg_proc p JOIN pg_namespace n "
            "ON n.oid = p.pronamespace WHERE n.nspname = 'public' AND NOT EXISTS "
            "(SELECT 1 FROM pg_depend d WHERE d.objid = p.oid AND d.deptype = 'e')"
        ).fetchall()
    return all(row[0] == 0 for row in found)


def empty_postgres(url: str) -> None:
    """Drop every table, sequence and type in `public` (undoing a restore that failed late)."""
    uri, env = _libpq(url)
    with psycopg.connect(uri, password=env.get("PGPASSWORD")) as conn:
        conn.execute(_DROP_ALL)


def load_postgres(url: str, dump: Path, *, replace: bool) -> None:
    """Load a custom-format dump in one transaction (`replace`: drop what is there first)."""
    pg_restore, psql = _tool("pg_restore"), _tool("psql")
    uri, env = _libpq(url)
    script = [pg_restore, "--no-owner", "--no-privileges", "--file=-", str(dump)]
    load = [psql, "--no-psqlrc", "--quiet", "--single-transaction", "-v", "ON_ERROR_STOP=1"]
    if replace:
        load += ["--command", _DROP_ALL]
    load += ["--file=-", f"--dbname={uri}"]
    with (
        tempfile.TemporaryFile() as errors,
        subprocess.Popen(script, env=env, stdout=subprocess.PIPE, stderr=errors) as producer,  # noqa: S603
        subprocess.Popen(  # noqa: S603
            load, env=env, stdin=subprocess.PIPE, stdout=subprocess.DEVNULL, stderr=errors
        ) as consumer,
    ):
        assert producer.stdout is not None  # noqa: S101 - PIPE was asked for
        assert consumer.stdin is not None  # noqa: S101
        _forward(producer.stdout, consumer.stdin)
        if producer.wait() != 0:
            # psql commits only at the end of its input: killed before that, nothing is kept.
            consumer.kill()
            consumer.wait()
            raise Unavailable(f"pg_restore failed: {_last_line(errors)}")
        with contextlib.suppress(BrokenPipeError):
            consumer.stdin.close()
        if consumer.wait() != 0:
            raise Unavailable(f"loading the database failed: {_last_line(errors)}")


def _forward(src: IO[bytes], dst: IO[bytes]) -> None:
    while piece := src.read(_PIECE):
        try:
            dst.write(piece)
        except BrokenPipeError:  # psql stopped at an error: its exit status says which
            while src.read(_PIECE):
                pass
            return


def _last_line(errors: IO[bytes]) -> str:
    errors.seek(0)
    lines = errors.read().decode(errors="replace").strip().splitlines()
    return lines[-1] if lines else "failed"
