"""Helpers for the audit tests: a log key, sessions, filling the log."""

from __future__ import annotations

import hashlib
import json

from sqlalchemy import Connection, Engine, text

from crypto.merkle import TreeBuilder
from crypto.note import Signer
from service.audit.log import AuditEvent, record_many
from service.config import Settings
from service.instance.keys import create_instance_secrets
from tests.factories import transaction

LOG_NAME = "probity.test/audit"


def make_log_key(settings: Settings) -> Signer:
    return create_instance_secrets(settings.effective_keys_dir, LOG_NAME)


def fill(engine: Engine, count: int, *, action: str = "tip.viewed") -> None:
    with transaction(engine) as session:
        record_many(session, [AuditEvent("system", action, details={"n": i}) for i in range(count)])


def reference_root(leaves: list[bytes]) -> bytes:
    """RFC 9162 MTH, written straight from the definition (the test oracle)."""
    if not leaves:
        return hashlib.sha256(b"").digest()
    if len(leaves) == 1:
        return leaves[0]
    k = 1 << ((len(leaves) - 1).bit_length() - 1)
    return hashlib.sha256(
        b"\x01" + reference_root(leaves[:k]) + reference_root(leaves[k:])
    ).digest()


def drop_triggers(connection: Connection) -> None:
    """What an attacker with database access does first: lift the append-only triggers."""
    for table in ("audit_entries", "audit_nodes", "audit_checkpoints"):
        if connection.dialect.name == "sqlite":
            connection.execute(text(f"DROP TRIGGER IF EXISTS {table}_no_update"))
            connection.execute(text(f"DROP TRIGGER IF EXISTS {table}_no_delete"))
        else:
            connection.execute(text(f"DROP TRIGGER IF EXISTS {table}_append_only ON {table}"))


def rebuild_nodes(connection: Connection) -> None:
    """Recompute every stored subtree hash from the entries as they now stand."""
    rows = connection.execute(text('SELECT canonical FROM audit_entries ORDER BY "index"'))
    builder = TreeBuilder()
    nodes = [
        {"l": level, "i": index, "h": digest}
        for (canonical,) in rows
        for level, index, digest in builder.append(bytes(canonical))
    ]
    connection.execute(text("DELETE FROM audit_nodes"))
    connection.execute(
        text('INSERT INTO audit_nodes (level, "index", hash) VALUES (:l, :i, :h)'), nodes
    )


def edit_entry(engine: Engine, index: int, *, nodes: bool = True) -> None:
    """Rewrite one entry's action behind the app's back; `nodes`: recompute `audit_nodes` too."""
    with engine.begin() as connection:
        drop_triggers(connection)
        query = text('SELECT canonical FROM audit_entries WHERE "index" = :i')
        body = json.loads(connection.execute(query, {"i": index}).scalar_one())
        body["action"] = "tip.nothing_to_see"
        forged = json.dumps(body, sort_keys=True, separators=(",", ":")).encode()
        update = text('UPDATE audit_entries SET canonical = :c WHERE "index" = :i')
        connection.execute(update, {"c": forged, "i": index})
        if nodes:
            rebuild_nodes(connection)
