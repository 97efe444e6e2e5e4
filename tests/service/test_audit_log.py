"""The Merkle audit log: appends, canonical entries, append-only storage, proofs, checkpoints."""

from __future__ import annotations

import itertools
import json
import multiprocessing
import random
import re
import uuid
from datetime import date, datetime

import pytest
from sqlalchemy import Engine, func, select, text
from sqlalchemy.exc import DBAPIError

from crypto.checkpoint import open_checkpoint
from crypto.merkle import leaf_hash, verify_consistency, verify_inclusion
from service.audit import proofs
from service.audit.checkpoints import current_checkpoint, sign_new_checkpoint
from service.audit.log import AuditEvent, flush_pending, history, log_size, record, record_many
from service.audit.models import AuditCheckpoint, AuditEntry, AuditNode, PendingAuditEntry
from service.audit.pending import record_reporter_events
from service.config import Settings
from service.db import make_engine
from service.errors import BadRange
from tests.factories import transaction
from tests.service.audit_util import fill, make_log_key, reference_root


def _canonicals(engine: Engine) -> list[bytes]:
    with transaction(engine) as session:
        rows = session.scalars(select(AuditEntry.canonical).order_by(AuditEntry.index))
        return [bytes(c) for c in rows]


def test_record_appends_contiguous_indices_from_zero(engine: Engine) -> None:
    staff = uuid.uuid4()
    with transaction(engine) as session:
        first = record(session, actor=staff, action="staff.login")
        second = record(session, actor="system", action="tip.assigned", tip_id=uuid.uuid4())
    with transaction(engine) as session:
        third = record(session, actor=str(staff), action="staff.logout")
        assert log_size(session) == 3
    assert (first, second, third) == (0, 1, 2)


def test_canonical_entry_is_compact_sorted_ascii_json(engine: Engine) -> None:
    tip, staff, att = uuid.uuid4(), uuid.uuid4(), uuid.uuid4()
    with transaction(engine) as session:
        record(
            session,
            actor=staff,
            action="attachment.downloaded",
            tip_id=tip,
            objects={"attachment": att},
            details={"part": 2, "zipped": False, "note": None, "kind": "pdf"},
        )
    (canonical,) = _canonicals(engine)
    body = json.loads(canonical)
    assert canonical == json.dumps(body, sort_keys=True, separators=(",", ":")).encode()
    assert canonical.isascii()
    assert (body["v"], body["index"]) == (1, 0)
    assert (body["actor"], body["tip"]) == (str(staff), str(tip))
    assert body["objects"] == {"attachment": str(att)}
    assert body["details"] == {"kind": "pdf", "note": None, "part": 2, "zipped": False}
    assert re.fullmatch(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\dZ", body["time"])
    with transaction(engine) as session:
        node = session.get(AuditNode, (0, 0))
        assert node is not None
        assert bytes(node.hash) == leaf_hash(canonical)


@pytest.mark.parametrize(
    ("field", "value"),
    [
        ("details", {"reason": "he hit the reporter"}),  # prose: spaces refused
        ("details", {"nested": {"a": 1}}),
        ("details", {"score": 1.5}),
        ("details", {"long": "x" * 129}),
        ("details", {"Bad Key": 1}),
        ("details", {"big": 2**70}),
        ("objects", {"tip": 5}),
        ("objects", {"tip": "not an id!"}),
        ("action", "Tip Viewed"),
        ("action", "viewed"),
        ("actor", "reporter"),
        ("actor", "someone"),
    ],
)
def test_content_and_malformed_fields_are_refused_and_nothing_written(
    engine: Engine, field: str, value: object
) -> None:
    kwargs: dict[str, object] = {"actor": "system", "action": "tip.viewed", field: value}
    with pytest.raises(ValueError, match=r"must|bad|reporter"), transaction(engine) as session:
        record(session, **kwargs)  # type: ignore[arg-type]
    with transaction(engine) as session:
        assert log_size(session) == 0


def test_a_bad_event_in_a_batch_writes_nothing(engine: Engine) -> None:
    fill(engine, 3)
    bad = AuditEvent("system", "tip.viewed", details={"x": [1]})
    events = [AuditEvent("system", "tip.viewed"), bad]
    with pytest.raises(ValueError, match="detail x"), transaction(engine) as session:
        record_many(session, events)
    with transaction(engine) as session:
        assert log_size(session) == 3
        assert session.scalar(select(func.count()).select_from(AuditNode)) == 4  # 3 leaves, 1 pair


def test_history_returns_a_tips_entries_oldest_first(engine: Engine) -> None:
    tip, other, staff = uuid.uuid4(), uuid.uuid4(), uuid.uuid4()
    with transaction(engine) as session:
        record(session, actor=staff, action="tip.viewed", tip_id=tip)
        record(session, actor=staff, action="tip.viewed", tip_id=other)
        record(
            session, actor=staff, action="tip.transitioned", tip_id=tip, details={"to": "triage"}
        )
    with transaction(engine) as session:
        records = history(session, tip)
    assert [(r.index, r.action) for r in records] == [(0, "tip.viewed"), (2, "tip.transitioned")]
    assert (records[1].details, records[1].actor) == ({"to": "triage"}, str(staff))
    assert records[0].tip_id == tip
    assert isinstance(records[0].time, datetime)


@pytest.mark.parametrize("table", ["audit_entries", "audit_nodes", "audit_checkpoints"])
def test_log_tables_refuse_update_and_delete(
    engine: Engine, settings: Settings, table: str
) -> None:
    make_log_key(settings)
    fill(engine, 2)
    with transaction(engine) as session:
        sign_new_checkpoint(session, settings)
    column = {"audit_entries": "actor", "audit_nodes": "hash", "audit_checkpoints": "note"}[table]
    value = "'x'" if table != "audit_nodes" else "hash"
    update = f"UPDATE {table} SET {column} = {value}"  # noqa: S608  (fixed names)
    for statement in (update, f"DELETE FROM {table}"):  # noqa: S608
        with pytest.raises(DBAPIError, match="append-only"), engine.begin() as connection:
            connection.execute(text(statement))
    with transaction(engine) as session:
        assert session.scalar(select(func.count()).select_from(AuditEntry)) == 2
        assert session.scalar(select(func.count()).select_from(AuditCheckpoint)) == 1


def test_flush_pending_shuffles_and_dates_by_day_only(engine: Engine) -> None:
    tip = uuid.uuid4()
    record_events = [(f"reporter.event_{i:02d}", {"message_id": uuid.uuid4()}) for i in range(30)]
    with transaction(engine) as session:
        record(session, actor="system", action="tip.received")
        record_reporter_events(session, record_events, day=date(2026, 11, 28), tip_id=tip)
    with transaction(engine) as session:
        assert flush_pending(session, rng=random.Random(7)) == 30
        assert session.scalar(select(func.count()).select_from(PendingAuditEntry)) == 0
    with transaction(engine) as session:
        assert flush_pending(session, rng=random.Random(7)) == 0
        records = history(session, tip)
    actions = [r.action for r in records]
    assert sorted(actions) == [a for a, _ in record_events]
    assert actions != sorted(actions)  # 1 / 30! chance of a false failure
    assert {r.time for r in records} == {date(2026, 11, 28)}
    assert all(r.actor == "reporter" and "message_id" in r.objects for r in records)
    assert [r.index for r in records] == list(range(1, 31))
    for canonical in _canonicals(engine)[1:]:
        assert b'"time":"2026-11-28"' in canonical


def test_proofs_from_storage_verify_for_every_size_up_to_64(engine: Engine) -> None:
    leaves: list[bytes] = []
    for size in range(1, 65):
        with transaction(engine) as session:
            record(session, actor="system", action="tip.viewed", details={"n": size})
    leaves = [leaf_hash(c) for c in _canonicals(engine)]
    with transaction(engine) as session:
        roots = [proofs.root(session, n) for n in range(65)]
        assert roots == [reference_root(leaves[:n]) for n in range(65)]
        for size in range(1, 65):
            for index in range(size):
                proof = proofs.inclusion(session, index, size)
                verify_inclusion(leaves[index], index, size, proof, roots[size])
            for first in range(size + 1):
                proof = proofs.consistency(session, first, size)
                verify_consistency(first, size, proof, roots[first], roots[size])


@pytest.mark.parametrize(
    ("call", "args"),
    [
        ("inclusion", (5, 5)),
        ("inclusion", (-1, 3)),
        ("inclusion", (0, 6)),
        ("consistency", (3, 2)),
        ("consistency", (1, 6)),
        ("root", (6,)),
    ],
)
def test_proofs_outside_the_log_are_bad_ranges(
    engine: Engine, call: str, args: tuple[int, ...]
) -> None:
    fill(engine, 5)
    with pytest.raises(BadRange), transaction(engine) as session:
        getattr(proofs, call)(session, *args)


def test_checkpoints_sign_the_stored_root_once_per_size(engine: Engine, settings: Settings) -> None:
    signer = make_log_key(settings)
    with transaction(engine) as session:
        empty = current_checkpoint(session, settings)
    fill(engine, 5)
    with transaction(engine) as session:
        signed = sign_new_checkpoint(session, settings)
        assert signed is not None
        assert sign_new_checkpoint(session, settings) is None
        assert current_checkpoint(session, settings) == signed.note
        root = proofs.root(session, 5)
    assert open_checkpoint(empty, signer.verifier).size == 0
    cp = open_checkpoint(signed.note, signer.verifier)
    assert (cp.origin, cp.size, cp.root) == (signer.name, 5, root)


def _append_worker(url: str, keys_dir: str, count: int) -> None:
    engine = make_engine(url)
    settings = Settings(database_url=url, keys_dir=keys_dir)
    try:
        for i in range(count):
            with transaction(engine) as session:
                record(session, actor="system", action="tip.viewed", details={"n": i})
                if i % 10 == 9:
                    sign_new_checkpoint(session, settings)
    finally:
        engine.dispose()


def test_concurrent_processes_keep_indices_contiguous_and_checkpoints_consistent(
    engine: Engine, settings: Settings
) -> None:
    signer = make_log_key(settings)
    context = multiprocessing.get_context("spawn")
    args = (settings.effective_database_url, str(settings.effective_keys_dir), 50)
    workers = [context.Process(target=_append_worker, args=args) for _ in range(4)]
    for worker in workers:
        worker.start()
    for worker in workers:
        worker.join(120)
        assert worker.exitcode == 0
    leaves = [leaf_hash(c) for c in _canonicals(engine)]
    assert len(leaves) == 200
    with transaction(engine) as session:
        assert session.scalars(select(AuditEntry.index).order_by(AuditEntry.index)).all() == list(
            range(200)
        )
        notes = session.scalars(select(AuditCheckpoint.note).order_by(AuditCheckpoint.size)).all()
        cps = [open_checkpoint(note, signer.verifier) for note in notes]
        assert len(cps) >= 2
        for older, newer in itertools.pairwise(cps):
            proof = proofs.consistency(session, older.size, newer.size)
            verify_consistency(older.size, newer.size, proof, older.root, newer.root)
        assert proofs.root(session, 200) == reference_root(leaves)
    for cp in cps:
        assert cp.root == reference_root(leaves[: cp.size])


def test_flush_pending_never_moves_dates_backwards(engine: Engine) -> None:
    tip = uuid.uuid4()
    with transaction(engine) as session:
        for day in (date(2026, 11, 29), date(2026, 11, 28), date(2026, 11, 29), date(2026, 11, 28)):
            record_reporter_events(
                session, [("reporter.message_posted", {})] * 5, day=day, tip_id=tip
            )
    with transaction(engine) as session:
        assert flush_pending(session, rng=random.Random(3)) == 20
        days = [r.time for r in history(session, tip)]
    assert days == sorted(days)
    assert days.count(date(2026, 11, 28)) == 10
