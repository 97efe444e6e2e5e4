"""The triage queue: audience only, most pressing first, filters, keyset pages and deadlines."""

from __future__ import annotations

import base64
import uuid
from datetime import date, timedelta
from typing import Any

import pytest
from sqlalchemy import Engine, select, update

from service.approvals.service import decide
from service.config import Settings
from service.db import make_session_factory, session_scope
from service.errors import InvalidInput, Malformed
from service.staff.models import Role
from service.tips.models import NO_DEADLINE, Status, Tip, add_months
from service.tips.queue import QueueFilters, QueuePage, decode_cursor, encode_cursor, queue_page
from service.tips.workflow import transition
from tests.factories import Border, add_conflict, file_tip, principal
from tests.service.tips_util import moment, set_tip

DAY = date(2026, 11, 2)


def page(
    engine: Engine,
    staff_id: uuid.UUID,
    *,
    cursor: str | None = None,
    limit: int = 100,
    today: date = DAY,
    **filters: object,
) -> QueuePage:
    with make_session_factory(engine)() as session:
        return queue_page(
            session,
            staff_id,
            filters=QueueFilters(**filters),  # type: ignore[arg-type]
            cursor=cursor,
            limit=limit,
            today=today,
        )


def ids(engine: Engine, staff_id: uuid.UUID, **kwargs: Any) -> list[uuid.UUID]:
    return [row.id for row in page(engine, staff_id, **kwargs).rows]


def test_only_tips_of_the_viewers_audience_appear(
    engine: Engine, settings: Settings, border: Border
) -> None:
    us = [file_tip(engine, settings, received_on=DAY) for _ in range(2)]
    mx = file_tip(engine, settings, received_on=DAY, agency="tijuana-municipal")
    assert set(ids(engine, border.reviewer_us.id)) == set(us)
    assert set(ids(engine, border.supervisor_us.id)) == set(us)
    assert ids(engine, border.reviewer_mx.id) == [mx]
    assert ids(engine, border.oversight.id) == []


def test_a_conflicted_reviewer_does_not_see_the_tip_naming_their_conflict(
    engine: Engine, settings: Settings, border: Border
) -> None:
    add_conflict(engine, settings, border.reviewer_us.id, "badge", "4471")
    named = file_tip(engine, settings, received_on=DAY)
    other = file_tip(engine, settings, received_on=DAY, subjects=[{"unit": "Harbour Patrol"}])
    assert ids(engine, border.reviewer_us.id) == [other]
    assert set(ids(engine, border.supervisor_us.id)) == {named, other}


def test_order_is_urgent_then_priority_then_nearest_deadline_then_id(
    engine: Engine, settings: Settings, border: Border
) -> None:
    tip = {name: file_tip(engine, settings, received_on=DAY) for name in "abcdefg"}
    set_tip(engine, tip["a"], priority=10)
    set_tip(engine, tip["b"], priority=50)
    set_tip(engine, tip["c"], urgent=True, priority=5)
    set_tip(engine, tip["d"], priority=50, received_on=DAY - timedelta(days=3))
    set_tip(engine, tip["e"], priority=50, acknowledged_at=moment(DAY))  # feedback: months away
    set_tip(engine, tip["f"], priority=50, status=Status.CLOSED.value)  # no deadline: last
    set_tip(engine, tip["g"], priority=10)
    twins = sorted([tip["a"], tip["g"]])  # same key but the id
    expected = [tip["c"], tip["d"], tip["b"], tip["e"], tip["f"], *twins]
    assert ids(engine, border.reviewer_us.id) == expected


def test_each_filter_narrows_the_queue(engine: Engine, settings: Settings, border: Border) -> None:
    ana, sam = border.reviewer_us, border.supervisor_us
    plain = file_tip(engine, settings, received_on=DAY)
    urgent = file_tip(engine, settings, received_on=DAY, threat_to_life=True)
    late = file_tip(engine, settings, received_on=DAY - timedelta(days=30))
    mine = file_tip(engine, settings, received_on=DAY)
    theirs = file_tip(engine, settings, received_on=DAY)
    set_tip(
        engine, mine, assignee_id=ana.id, status=Status.TRIAGE.value, acknowledged_at=moment(DAY)
    )
    set_tip(engine, theirs, assignee_id=sam.id)
    everything = {plain, urgent, late, mine, theirs}
    assert set(ids(engine, ana.id)) == everything
    assert ids(engine, ana.id, urgent=True) == [urgent]
    assert set(ids(engine, ana.id, urgent=False)) == everything - {urgent}
    assert ids(engine, ana.id, overdue=True) == [late]
    assert set(ids(engine, ana.id, overdue=False)) == everything - {late}
    assert ids(engine, ana.id, status="triage") == [mine]
    assert ids(engine, ana.id, assignee="me") == [mine]
    assert ids(engine, sam.id, assignee="me") == [theirs]
    assert ids(engine, ana.id, assignee=str(sam.id)) == [theirs]
    assert set(ids(engine, ana.id, assignee="none")) == {plain, urgent, late}
    assert set(ids(engine, ana.id, compartment="us")) == everything
    assert ids(engine, ana.id, compartment="mx") == []
    assert ids(engine, ana.id, urgent=False, overdue=True, assignee="none") == [late]


def test_bad_filters_are_refused(engine: Engine, settings: Settings, border: Border) -> None:
    with pytest.raises(InvalidInput):
        QueueFilters(status="lost")
    with pytest.raises(InvalidInput):
        QueueFilters(assignee="somebody")
    with pytest.raises(InvalidInput):
        page(engine, border.reviewer_us.id, limit=101)


def test_pages_walk_every_tip_exactly_once_in_order(
    engine: Engine, settings: Settings, border: Border
) -> None:
    made = []
    for n in range(11):
        tip_id = file_tip(engine, settings, received_on=DAY - timedelta(days=n % 3))
        set_tip(engine, tip_id, priority=(n % 2) * 10, urgent=n % 4 == 0)
        made.append(tip_id)
    whole = ids(engine, border.reviewer_us.id)
    for limit in (1, 2, 3, 5):
        seen, cursor = [], None
        while True:
            result = page(engine, border.reviewer_us.id, cursor=cursor, limit=limit)
            seen += [row.id for row in result.rows]
            assert len(result.rows) <= limit
            cursor = result.next_cursor
            if cursor is None:
                break
        assert seen == whole
    assert sorted(whole) == sorted(made)


def test_a_malformed_cursor_is_refused(engine: Engine, settings: Settings, border: Border) -> None:
    file_tip(engine, settings, received_on=DAY)
    forged = base64.urlsafe_b64encode(b"1:5:2026-01-01:not-an-id").decode()
    for cursor in ("!!!", "abc", forged, "A" * 300):
        with pytest.raises(Malformed):
            page(engine, border.reviewer_us.id, cursor=cursor)


def test_a_cursor_round_trips_its_sort_key() -> None:
    key = (True, 35, date(2027, 2, 28), uuid.uuid4())
    assert decode_cursor(encode_cursor(key)) == key
    assert decode_cursor(encode_cursor((False, 0, NO_DEADLINE, key[3])))[2] == NO_DEADLINE


def test_acknowledgement_is_overdue_after_seven_days(
    engine: Engine, settings: Settings, border: Border
) -> None:
    file_tip(engine, settings, received_on=DAY)
    (row,) = page(engine, border.reviewer_us.id, today=DAY + timedelta(days=7)).rows
    assert row.ack_due == DAY + timedelta(days=7)
    assert row.feedback_due is None
    assert not row.ack_overdue
    assert not row.overdue
    (row,) = page(engine, border.reviewer_us.id, today=DAY + timedelta(days=8)).rows
    assert row.ack_overdue
    assert row.overdue
    assert ids(engine, border.reviewer_us.id, overdue=True, today=DAY + timedelta(days=8))


def test_feedback_is_overdue_three_calendar_months_after_acknowledgement(
    engine: Engine, settings: Settings, border: Border
) -> None:
    tip_id = file_tip(engine, settings, received_on=date(2026, 11, 28))
    set_tip(engine, tip_id, status=Status.TRIAGE.value, acknowledged_at=moment(date(2026, 11, 30)))
    due = date(2027, 2, 28)  # 30 November + 3 months, clamped to February's end
    (row,) = page(engine, border.reviewer_us.id, today=due).rows
    assert (row.ack_due, row.feedback_due) == (None, due)
    assert not row.ack_overdue
    assert not row.feedback_overdue
    assert ids(engine, border.reviewer_us.id, overdue=True, today=due) == []
    (row,) = page(engine, border.reviewer_us.id, today=due + timedelta(days=1)).rows
    assert row.feedback_overdue
    assert not row.ack_overdue
    assert ids(engine, border.reviewer_us.id, overdue=True, today=due + timedelta(days=1))


def test_a_closed_tip_is_never_overdue(engine: Engine, settings: Settings, border: Border) -> None:
    tip_id = file_tip(engine, settings, received_on=DAY)
    set_tip(engine, tip_id, acknowledged_at=moment(DAY), status=Status.CLOSED.value)
    later = DAY + timedelta(days=400)
    (row,) = page(engine, border.reviewer_us.id, today=later).rows
    assert not row.overdue
    assert row.feedback_due is None
    assert ids(engine, border.reviewer_us.id, overdue=True, today=later) == []


def test_rows_carry_flags_and_dates_but_no_content(
    engine: Engine, settings: Settings, border: Border
) -> None:
    tip_id = file_tip(engine, settings, received_on=DAY, threat_to_life=True)
    set_tip(engine, tip_id, assignee_id=border.supervisor_us.id)
    (row,) = page(engine, border.reviewer_us.id).rows
    assert (row.id, row.short_id, row.compartment) == (tip_id, tip_id.hex[:8], "us")
    assert (row.urgent, row.status, row.assignee, row.received_on) == (True, "received", "sam", DAY)
    assert "Ramirez" not in repr(row)


def test_add_months_clamps_to_the_end_of_the_month() -> None:
    assert add_months(date(2026, 11, 30), 3) == date(2027, 2, 28)
    assert add_months(date(2027, 11, 30), 3) == date(2028, 2, 29)
    assert add_months(date(2026, 10, 15), 3) == date(2027, 1, 15)
    assert add_months(date(2026, 5, 31), 3) == date(2026, 8, 31)


def test_workflow_transitions_keep_the_stored_deadline_right(
    engine: Engine, settings: Settings, border: Border
) -> None:
    """The real transitions (service.tips.workflow) move the deadline the queue sorts on."""
    tip_id = file_tip(engine, settings, received_on=DAY)
    ana = principal(border.reviewer_us)
    with session_scope(make_session_factory(engine)) as session:
        transition(session, ana, tip_id, to="triage", now=moment(DAY + timedelta(days=2)))
    (row,) = page(engine, ana.staff_id).rows
    assert (row.status, row.ack_due, row.feedback_due) == ("triage", None, date(2027, 2, 4))
    with session_scope(make_session_factory(engine)) as session:
        asked = transition(session, ana, tip_id, to="closed", reason="spam", now=moment(DAY))
    sam = principal(border.supervisor_us, Role.SUPERVISOR)
    assert asked.approval_id is not None
    with session_scope(make_session_factory(engine)) as session:  # closing needs a second person
        decide(session, sam, asked.approval_id, approve=True, now=moment(DAY))
    (row,) = page(engine, ana.staff_id, today=DAY + timedelta(days=999)).rows
    assert (row.status, row.feedback_due, row.overdue) == ("closed", None, False)
    with make_session_factory(engine)() as session:
        tip = session.get(Tip, tip_id)
        assert tip is not None
        assert tip.next_deadline == NO_DEADLINE


def test_an_update_statement_keeps_the_stored_deadline_right(
    engine: Engine, settings: Settings, border: Border
) -> None:
    """Mapper hooks see only flushes: an UPDATE statement on tips must move the deadline too."""
    acknowledged, closed = (file_tip(engine, settings, received_on=DAY) for _ in range(2))
    untouched = file_tip(engine, settings, received_on=DAY)
    with session_scope(make_session_factory(engine)) as session:
        session.execute(
            update(Tip).where(Tip.id == acknowledged).values(acknowledged_at=moment(DAY))
        )
        session.execute(update(Tip), [{"id": closed, "status": Status.CLOSED.value}])
        assert session.get(Tip, acknowledged).next_deadline == add_months(DAY, 3)  # type: ignore[union-attr]
    with make_session_factory(engine)() as session:
        deadlines = {tip.id: tip.next_deadline for tip in session.scalars(select(Tip))}
    assert deadlines == {
        acknowledged: add_months(DAY, 3),
        closed: NO_DEADLINE,
        untouched: DAY + timedelta(days=7),
    }
