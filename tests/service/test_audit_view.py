"""The auditor's view of the log: filtered pages of entries and the checkpoint status."""

from __future__ import annotations

import random
import uuid
from datetime import UTC, date, datetime

import pytest
from sqlalchemy import Engine, insert

from crypto.checkpoint import Checkpoint, sign_checkpoint
from crypto.note import Signer, generate_signer
from service.audit.checkpoints import sign_new_checkpoint
from service.audit.log import AuditEvent, flush_pending, record, record_many
from service.audit.models import AuditCheckpoint, PendingAuditEntry
from service.audit.view import EntryFilters, checkpoint_status, list_entries
from service.config import Settings
from service.errors import InvalidInput
from service.instance.keys import load_log_signer
from service.staff.models import Role
from tests.factories import add_staff, init_instance, transaction

TIP = uuid.uuid4()
ATTACHMENT = uuid.uuid4()


@pytest.fixture
def staff_id(engine: Engine, settings: Settings) -> uuid.UUID:
    init_instance(engine, settings)
    return add_staff(engine, settings, "rita", Role.REVIEWER, []).id


def fill_log(engine: Engine, staff_id: uuid.UUID) -> None:
    with transaction(engine) as session:
        record_many(
            session,
            [
                AuditEvent(
                    "system",
                    "staff.created",
                    objects={"staff": staff_id},
                    time="2026-11-01T09:00:00Z",
                ),
                AuditEvent(staff_id, "tip.viewed", tip_id=TIP, time="2026-11-02T10:00:00Z"),
                AuditEvent(
                    staff_id,
                    "attachment.downloaded",
                    tip_id=TIP,
                    objects={"attachment": ATTACHMENT},
                    time="2026-11-03T23:59:59Z",
                ),
                AuditEvent(
                    staff_id,
                    "tip.transitioned",
                    tip_id=uuid.uuid4(),
                    details={"from": "received", "to": "triage"},
                    time="2026-11-04T08:00:00Z",
                ),
            ],
        )
        reporter = {"tip_id": str(TIP)}
        session.add(
            PendingAuditEntry(
                day=date(2026, 11, 3), actor="reporter", action="message.posted", details=reporter
            )
        )
        session.flush()
        flush_pending(session, rng=random.Random(1))


def actions(engine: Engine, **kw: object) -> list[str]:
    with transaction(engine) as session:
        page = list_entries(session, filters=EntryFilters(**kw))  # type: ignore[arg-type]
    return [e.action for e in page.entries]


def test_filters_by_actor_username_id_and_reporter(engine: Engine, staff_id: uuid.UUID):
    fill_log(engine, staff_id)
    by_name = actions(engine, actor="rita")
    assert by_name == ["tip.transitioned", "attachment.downloaded", "tip.viewed"]  # newest first
    assert actions(engine, actor=str(staff_id).upper()) == by_name
    assert actions(engine, actor="reporter") == ["message.posted"]
    assert actions(engine, actor="nobody") == []


def test_filters_by_action_and_prefix(engine: Engine, staff_id: uuid.UUID):
    fill_log(engine, staff_id)
    assert actions(engine, action="tip.viewed") == ["tip.viewed"]
    assert actions(engine, action="tip.") == ["tip.transitioned", "tip.viewed"]


def test_filters_by_tip_or_object_id(engine: Engine, staff_id: uuid.UUID):
    fill_log(engine, staff_id)
    assert actions(engine, object_id=str(TIP)) == [
        "message.posted",
        "attachment.downloaded",
        "tip.viewed",
    ]
    assert actions(engine, object_id=str(ATTACHMENT)) == ["attachment.downloaded"]
    # The actor's id is not an object of its own entries; the staff.created entry names it.
    assert actions(engine, object_id=str(staff_id)) == ["staff.created"]


def test_date_range_is_inclusive_and_takes_day_only_entries(engine: Engine, staff_id):
    fill_log(engine, staff_id)
    got = actions(engine, date_from=date(2026, 11, 3), date_to=date(2026, 11, 3))
    assert sorted(got) == ["attachment.downloaded", "message.posted"]
    assert actions(engine, date_to=date(2026, 11, 1)) == ["staff.created"]


@pytest.mark.parametrize(
    "bad",
    [
        {"actor": "two words"},
        {"action": "Tip.Viewed"},
        {"object_id": "x" * 129},
        {"date_from": date(2026, 2, 1), "date_to": date(2026, 1, 1)},
    ],
)
def test_bad_filters_are_invalid_input(bad: dict[str, object]):
    with pytest.raises(InvalidInput):
        EntryFilters(**bad)  # type: ignore[arg-type]


def test_keyset_pages_cover_every_match_once_across_scan_batches(engine: Engine, staff_id):
    # 1200 entries, one in three about the tip: the object filter scans in batches of 500.
    with transaction(engine) as session:
        record_many(
            session,
            [
                AuditEvent(
                    staff_id, "tip.viewed", tip_id=TIP if i % 3 == 0 else None, details={"n": i}
                )
                for i in range(1200)
            ],
        )
    seen: list[int] = []
    cursor = None
    while True:
        with transaction(engine) as session:
            page = list_entries(
                session, filters=EntryFilters(object_id=str(TIP)), cursor=cursor, limit=150
            )
        seen += [int(e.details["n"]) for e in page.entries]  # type: ignore[arg-type]
        if page.next_cursor is None:
            break
        cursor = page.next_cursor
    assert seen == list(range(1197, -1, -3))


def test_limit_out_of_range_is_refused(engine: Engine, staff_id):
    with transaction(engine) as session, pytest.raises(InvalidInput):
        list_entries(session, filters=EntryFilters(), limit=0)


# ---- Checkpoint status ----


def _signer(settings: Settings) -> Signer:
    return load_log_signer(settings.effective_keys_dir)


def _grow_and_sign(engine: Engine, settings: Settings, count: int) -> None:
    with transaction(engine) as session:
        for i in range(count):
            record(session, actor="system", action="test.filled", details={"n": i})
        sign_new_checkpoint(session, settings)


def _insert(engine: Engine, size: int, note: str) -> None:
    with transaction(engine) as session:
        session.execute(
            insert(AuditCheckpoint).values(size=size, note=note, created_at=datetime.now(UTC))
        )


def status(engine: Engine, settings: Settings):
    with transaction(engine) as session:
        return checkpoint_status(session, _signer(settings).verifier)


def test_honest_log_with_two_checkpoints_is_verified(engine: Engine, settings, staff_id):
    _grow_and_sign(engine, settings, 5)
    _grow_and_sign(engine, settings, 6)
    result = status(engine, settings)
    assert result.verified
    assert result.problem is None
    assert result.newest is not None
    assert result.previous is not None
    assert (result.previous.size, result.newest.size) == (result.log_size - 6, result.log_size)
    assert result.checks == {
        "signature": True,
        "within_log": True,
        "entries": True,
        "previous_signature": True,
        "consistent": True,
    }


def test_no_checkpoint_is_its_own_state(engine: Engine, settings, staff_id):
    result = status(engine, settings)
    assert not result.verified
    assert result.problem == "no_checkpoint"


@pytest.mark.parametrize(
    ("forger", "problem"),
    [("real_key", "inconsistent"), ("other_key", "previous_bad_signature")],
)
def test_forged_previous_checkpoint_is_caught(engine, settings, staff_id, forger, problem):
    _grow_and_sign(engine, settings, 4)
    _grow_and_sign(engine, settings, 8)
    real = _signer(settings)
    signer = real if forger == "real_key" else generate_signer(real.name)
    # Slipped in between the two honest ones, so it becomes the "previous" checkpoint.
    forged = sign_checkpoint(Checkpoint(real.name, 7, b"\x01" * 32), signer)
    _insert(engine, 7, forged)
    assert status(engine, settings).problem == problem


def test_row_size_that_disagrees_with_the_signed_size_is_refused(engine, settings, staff_id):
    _grow_and_sign(engine, settings, 4)
    with transaction(engine) as session:
        record(session, actor="system", action="test.filled")
    with transaction(engine) as session:
        honest = session.get(AuditCheckpoint, 4)
        assert honest is not None
        note = honest.note
    _insert(engine, 5, note)  # a true signature, filed under another size
    assert status(engine, settings).problem == "bad_signature"
