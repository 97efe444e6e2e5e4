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
