"""A scratch PostgreSQL database for one benchmark run: made on entry, dropped on exit."""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from contextlib import contextmanager

from sqlalchemy import create_engine, text
from sqlalchemy.engine import make_url

from service.db import normalise_url

__all__ = ["scratch_database"]


@contextmanager
def scratch_database(server_url: str, prefix: str) -> Iterator[str]:
    """Yield the URL of a new database `prefix_<random>` on `server_url`'s server. It is dropped
    afterwards even while connections remain (WITH FORCE: a killed server may leave some)."""
    url = make_url(normalise_url(server_url))
    name = f"{prefix}_{uuid.uuid4().hex[:8]}"
    # Any existing database serves to create another; a bare server URL means `postgres`.
    server = url.set(database=url.database or "postgres")
    admin = create_engine(server, isolation_level="AUTOCOMMIT")
    try:
        with admin.connect() as conn:
            conn.execute(text(f'CREATE DATABASE "{name}"'))
        try:
            yield url.set(database=name).render_as_string(hide_password=False)
        finally:
            with admin.connect() as conn:
                conn.execute(text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
    finally:
        admin.dispose()
