"""The audit fast path (service.audit.append) writes and reads exactly what the ORM would."""

from __future__ import annotations

import uuid
from typing import Any

import pytest
from sqlalchemy import Engine, select
from sqlalchemy.orm import Session

from service.audit.append import insert_rows, read_nodes
from service.audit.log import AuditEvent, record_many
from service.audit.models import AuditEntry, AuditNode
from service.db import make_session_factory
from tests.service.audit_util import fill

EVENTS = [
    AuditEvent("system", "tip.viewed", tip_id=uuid.uuid4(), objects={"note": uuid.uuid4()}),
    AuditEvent(uuid.uuid4(), "staff.login", details={"via": "api", "n": 3, "ok": True}),
    AuditEvent("reporter", "message.sent", time="2026-01-02"),
]


def _rows(session: Session) -> tuple[list[tuple[Any, ...]], list[tuple[Any, ...]]]:
    session.expunge_all()  # read what the database holds, not the identity map
    entries = session.execute(
        select(
            AuditEntry.index,
            AuditEntry.time,
            AuditEntry.actor,
            AuditEntry.action,
            AuditEntry.tip_id,
            AuditEntry.canonical,
        ).order_by(AuditEntry.index)
    )
    nodes = session.execute(
        select(AuditNode.level, AuditNode.index, AuditNode.hash).order_by(
            AuditNode.level, AuditNode.index
        )
    )
    return [tuple(r) for r in entries], [tuple(r) for r in nodes]


def _orm_insert(
    session: Session, entries: list[dict[str, Any]], nodes: list[dict[str, Any]]
) -> None:
    """Stands in for `insert_rows`: the same rows as ORM objects, the plain way."""
    session.add_all([AuditEntry(**row) for row in entries])
    session.add_all([AuditNode(**row) for row in nodes])
    session.flush()


def _appended(
    engine: Engine, insert: object, monkeypatch: pytest.MonkeyPatch
) -> tuple[list[Any], list[Any]]:
    monkeypatch.setattr("service.audit.log.insert_rows", insert)
    with make_session_factory(engine)() as session:
        record_many(session, EVENTS[:1])  # one row: a plain execute
        record_many(session, EVENTS)  # several: executemany
        rows = _rows(session)
        session.rollback()
    return rows


def test_appended_rows_are_the_rows_the_orm_would_write(
    engine: Engine, monkeypatch: pytest.MonkeyPatch
) -> None:
    fill(engine, 5)  # a tree with stored subtrees to extend
    fast = _appended(engine, insert_rows, monkeypatch)
    plain = _appended(engine, _orm_insert, monkeypatch)
    assert fast == plain
    entries, nodes = fast
    assert [row[0] for row in entries] == list(range(9))
    assert len(nodes) == 9 + 4 + 2 + 1  # every complete subtree of 9 leaves


def test_read_nodes_reads_what_the_orm_reads(engine: Engine) -> None:
    fill(engine, 11)
    with make_session_factory(engine)() as session:
        stored = {(n.level, n.index): n.hash for n in session.scalars(select(AuditNode))}
        positions = [(0, 10), (3, 0), (1, 4), (0, 10), (2, 1)]  # a repeat, several levels
        assert read_nodes(session, positions) == {p: stored[p] for p in positions}
        assert read_nodes(session, []) == {}
