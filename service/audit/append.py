"""The audit log's fast path: its rows in and its subtree hashes out, below the ORM.

Every request that changes something appends an entry in its own transaction, so the append's
cost is paid on every write. Measured, the ORM costs more here than the SQL does: the entries and
nodes go in through Core (a plain execute for one row, executemany otherwise) and the subtree
hashes come back through one SQL string per lookup count, built once. What to append, and under
which lock, is decided in service.audit.log; tests/service/test_audit_append.py proves these
write and read exactly what the ORM would.

Imports `service` only.
"""

from __future__ import annotations

import functools
from collections.abc import Sequence
from typing import Any

from sqlalchemy import Table, insert
from sqlalchemy.orm import Session

from service.audit.models import AuditEntry, AuditNode

__all__ = ["insert_rows", "read_nodes"]

_ENTRIES: Table = AuditEntry.__table__  # type: ignore[assignment]
_NODES: Table = AuditNode.__table__  # type: ignore[assignment]


def insert_rows(
    session: Session, entries: Sequence[dict[str, Any]], nodes: Sequence[dict[str, Any]]
) -> None:
    """Insert entry rows and node rows (column name -> value), in the caller's transaction."""
    connection = session.connection()
    for table, rows in ((_ENTRIES, entries), (_NODES, nodes)):
        if rows:
            # A plain execute for one row: executemany costs more than the SQL for one.
            connection.execute(insert(table), rows[0] if len(rows) == 1 else list(rows))


@functools.lru_cache(maxsize=256)
def _nodes_sql(count: int, paramstyle: str) -> str:
    mark = "?" if paramstyle == "qmark" else "%s"
    # OR of point lookups: SQLite searches the primary key for each (a row-value IN would scan
    # the table). Written out because building it through the ORM costs ten times the query.
    where = " OR ".join([f'(level = {mark} AND "index" = {mark})'] * count)
    return f'SELECT level, "index", hash FROM audit_nodes WHERE {where}'  # noqa: S608  (no input)


def read_nodes(
    session: Session, positions: Sequence[tuple[int, int]]
) -> dict[tuple[int, int], bytes]:
    """Stored subtree hashes for `positions` [(level, index)], in one query."""
    unique = list(dict.fromkeys(positions))
    if not unique:
        return {}
    connection = session.connection()
    sql = _nodes_sql(len(unique), connection.dialect.paramstyle)
    params = tuple(value for position in unique for value in position)
    rows = connection.exec_driver_sql(sql, params)
    found = {(level, index): bytes(digest) for level, index, digest in rows}
    missing = [p for p in unique if p not in found]
    if missing:
        raise LookupError(f"audit log: missing subtree hashes {missing[:4]}")
    return found
