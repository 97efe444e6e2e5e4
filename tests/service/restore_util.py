"""A restore from backup, built directly on the log: what `probity restore` leaves behind."""

from __future__ import annotations

from sqlalchemy import Engine, text

from service.audit.checkpoints import sign_new_checkpoint
from service.config import Settings
from tests.factories import transaction
from tests.service.audit_util import drop_triggers


def sign(engine: Engine, settings: Settings) -> str:
    with transaction(engine) as session:
        signed = sign_new_checkpoint(session, settings)
        assert signed is not None
        return signed.note


def roll_back_log(engine: Engine, size: int) -> None:
    """The log as a backup taken at `size` entries holds it: later entries, subtree hashes and
    checkpoints gone (the keys directory, kept apart from the database, still remembers them)."""
    with engine.begin() as connection:
        drop_triggers(connection)
        connection.execute(text('DELETE FROM audit_entries WHERE "index" >= :n'), {"n": size})
        connection.execute(
            text('DELETE FROM audit_nodes WHERE ("index" + 1) * (1 << level) > :n'), {"n": size}
        )
        connection.execute(text("DELETE FROM audit_checkpoints WHERE size > :n"), {"n": size})


def forget_rotations(engine: Engine, first_key: str) -> None:
    """The key tables as a backup taken before a rotation holds them."""
    with engine.begin() as connection:
        drop_triggers(connection)
        for table in ("audit_statements", "audit_log_keys"):
            if connection.dialect.name == "sqlite":
                connection.execute(text(f"DROP TRIGGER IF EXISTS {table}_no_delete"))
            else:
                connection.execute(text(f"DROP TRIGGER IF EXISTS {table}_append_only ON {table}"))
        connection.execute(text("DELETE FROM audit_statements"))
        connection.execute(
            text("DELETE FROM audit_log_keys WHERE verifier != :k"), {"k": first_key}
        )
        connection.execute(
            text("UPDATE instance_keys SET value = :k WHERE name = 'audit_log_vkey'"),
            {"k": first_key},
        )
