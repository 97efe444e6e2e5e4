"""Alembic environment: runs on a connection handed over by service.migrations, or on a URL."""

from __future__ import annotations

import os

from sqlalchemy import Connection

from alembic import context
from service.db import all_metadata, make_engine

config = context.config
target_metadata = all_metadata()


def _run(connection: Connection) -> None:
    context.configure(
        connection=connection,
        target_metadata=target_metadata,
        # SQLite cannot ALTER most things in place; batch mode copies the table.
        render_as_batch=connection.dialect.name == "sqlite",
        compare_type=True,
    )
    with context.begin_transaction():
        context.run_migrations()


def run_migrations_online() -> None:
    connection = config.attributes.get("connection")
    if connection is not None:
        _run(connection)
        return
    url = config.get_main_option("sqlalchemy.url")
    if not url:
        url = os.environ.get("PROBITY_DATABASE_URL", "")
    if not url:
        raise SystemExit("set PROBITY_DATABASE_URL, or run `probity db upgrade`")
    engine = make_engine(url)
    try:
        with engine.begin() as conn:
            _run(conn)
    finally:
        engine.dispose()


if context.is_offline_mode():
    raise SystemExit("offline migrations are not supported; run `probity db upgrade`")
run_migrations_online()
