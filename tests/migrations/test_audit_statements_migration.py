"""The audit_statements migration: an existing instance's log key becomes its first
`audit_log_keys` row, and the new tables are append-only like the log."""

from __future__ import annotations

import pytest
from sqlalchemy import Engine, text
from sqlalchemy.exc import DBAPIError

from crypto.note import generate_signer
from service.migrations import downgrade, upgrade

BEFORE = "cfd568e41520"


def test_the_existing_log_key_is_carried_over_and_the_tables_are_append_only(
    empty_engine: Engine,
) -> None:
    upgrade(empty_engine, BEFORE)
    vkey = generate_signer("probity.test/audit").verifier
    with empty_engine.begin() as connection:
        connection.execute(
            text(
                "INSERT INTO instance_keys (name, value, created_at) "
                "VALUES ('audit_log_vkey', :v, CURRENT_TIMESTAMP)"
            ),
            {"v": vkey.encode()},
        )
    upgrade(empty_engine)
    with empty_engine.connect() as connection:
        rows = connection.execute(text("SELECT key_id, verifier, from_size FROM audit_log_keys"))
        assert [tuple(r) for r in rows] == [(f"{vkey.id:08x}", vkey.encode(), 0)]
    for statement in ("UPDATE audit_log_keys SET from_size = 1", "DELETE FROM audit_log_keys"):
        with pytest.raises(DBAPIError), empty_engine.begin() as connection:
            connection.execute(text(statement))
    downgrade(empty_engine, BEFORE)
    upgrade(empty_engine)
