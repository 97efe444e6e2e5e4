"""Content-free statistics on a dated history built through intake and the workflow.

Every expectation below is worked out by hand from tests/service/stats_util.py:

    tip  comp  received    acknowledged (days)   state now / closed
    t1   us    2026-11-02  2026-11-05 (3)        closed 11-20 with findings (on time)
    t2   us    2026-11-03  2026-11-12 (9, late)  closed 11-13 duplicate
(every closure asked by ana, approved by sam)
    t3   us    2026-11-10  2026-11-11 (1)        triage (feedback due 2027-02-11)
    t4   us    2026-11-10  -  (15 days: overdue) received
    t5   us    2026-11-24  -  (1 day: in time)   received
    t6   us    2026-08-01  2026-08-03 (2)        investigating, feedback due 11-03: overdue
    t7   us    2026-07-01  2026-07-02 (1)        closed 10-15 spam, feedback due 10-02: late,
                                                 contested by the reporter 10-20
    m1   mx    2026-11-17  2026-11-24 (7)        triage
    m2   mx    2026-11-17  -  (8 days: overdue)  received
"""

from __future__ import annotations

from datetime import date

import pytest
from sqlalchemy import Engine, select

from service.audit.closure_stats import _by_compartment, _by_reviewer, closure_counts
from service.audit.sql_dates import _day as day_literal
from service.audit.sql_dates import _within_months
from service.audit.stats import AckTimes, Deadline, as_json, stats
from service.audit.suppression import _overall_week, _suppress
from service.config import Settings
from service.db import make_session_factory, session_scope
from service.tips.models import add_months
from tests.factories import intake, seed_border
from tests.service.stats_util import TODAY, build_history


@pytest.fixture
def history_stats(engine: Engine, settings: Settings):
    build_history(engine, settings, seed_border(engine, settings))
    with session_scope(make_session_factory(engine)) as session:
        return stats(session, today=TODAY, weeks=4)


def by_name(result, name):
    return next(c for c in result.compartments if c.name == name)


def test_time_to_acknowledge_median_p90_and_count(history_stats):
    # us: 1,1,2,3,9; mx: 7; overall: 1,1,2,3,7,9.
    assert by_name(history_stats, "us").figures.ack_times == AckTimes(5, 2.0, 9)
    assert by_name(history_stats, "mx").figures.ack_times == AckTimes(1, 7.0, 7)
    assert history_stats.overall.ack_times == AckTimes(6, 2.5, 9)
    assert by_name(history_stats, "oversight").figures.ack_times == AckTimes(0, None, None)


def test_acknowledgement_deadline_counts(history_stats):
    assert by_name(history_stats, "us").figures.acknowledgement == Deadline(4, 1, 1, 1)
    assert by_name(history_stats, "mx").figures.acknowledgement == Deadline(1, 0, 1, 0)
    assert history_stats.overall.acknowledgement == Deadline(5, 1, 2, 1)


def test_feedback_deadline_counts(history_stats):
    # on time: t1, t2; late: t7; open overdue: t6; open in time: t3 (and m1 in mx).
    assert by_name(history_stats, "us").figures.feedback == Deadline(2, 1, 1, 1)
    assert by_name(history_stats, "mx").figures.feedback == Deadline(0, 0, 0, 1)
    assert history_stats.overall.feedback == Deadline(2, 1, 1, 2)


def test_closures_by_reason_and_findings(history_stats):
    us = by_name(history_stats, "us").figures
    assert us.closures_by_reason == {
        "duplicate": 1,
        "out_of_scope": 0,
        "spam": 1,
        "referred_out": 0,
        "withdrawn": 0,
        "findings": 1,
    }
    assert us.findings["sustained"] == 1
    assert us.findings["not_sustained"] == 1
    assert sum(us.findings.values()) == 2
    assert sum(by_name(history_stats, "mx").figures.closures_by_reason.values()) == 0
    assert history_stats.overall.closures_by_reason == us.closures_by_reason


def test_open_tips_per_status(history_stats):
    assert by_name(history_stats, "us").figures.open_by_status == {
        "received": 2,
        "triage": 1,
        "needs_info": 0,
        "investigating": 1,
        "decision_review": 0,
    }
    assert by_name(history_stats, "mx").figures.open_by_status["received"] == 1
    assert by_name(history_stats, "mx").figures.open_by_status["triage"] == 1
    assert history_stats.overall.open_by_status["received"] == 3
    assert history_stats.overall.tips == 9
    assert by_name(history_stats, "us").figures.tips == 7


def test_weekly_series_overall_in_full_per_compartment_suppressed(history_stats):
    assert [w.week for w in history_stats.weekly] == [
        "2026-W45",
        "2026-W46",
        "2026-W47",
        "2026-W48",
    ]
    assert history_stats.weekly[0].start == date(2026, 11, 2)
    assert [w.count for w in history_stats.weekly] == [2, 2, 2, 1]
    us = by_name(history_stats, "us").weekly
    assert [w.label for w in us] == ["<3", "<3", "0", "<3"]
    assert all(w.count is None for w in us if w.label == "<3")
    # mx's one small week would be given away by "0" beside it and the weekly total, so zeros
    # are hidden too ("*") until no hidden count stands alone.
    assert [w.label for w in by_name(history_stats, "mx").weekly] == ["*", "*", "<3", "*"]
    for w, total in enumerate(history_stats.weekly):
        hidden = [c for c in history_stats.compartments if c.weekly[w].count is None]
        assert len(hidden) != 1 or total.count is None, total.week


def test_a_single_hidden_cell_hides_the_weekly_total():
    grid = {"only": [5, 1, 4]}
    out = _suppress(grid)
    assert out["only"][1] == (None, True)
    assert _overall_week(grid, out, 1) is None
    assert _overall_week(grid, out, 0) == 5


def test_json_carries_hidden_cells_as_null_with_their_label(history_stats):
    body = as_json(history_stats)
    us = next(c for c in body["compartments"] if c["name"] == "us")
    assert us["weekly"][0] == {
        "week": "2026-W45",
        "start": "2026-11-02",
        "count": None,
        "label": "<3",
    }
    assert body["weekly"][3]["count"] == 1
    assert body["k"] == 3
    assert body["overall"]["acknowledgement"]["open_overdue"] == 2


def test_suppression_hides_a_second_cell_so_no_small_count_can_be_derived():
    grid = {"a": [5, 1, 0, 4], "b": [6, 7, 0, 8]}
    out = _suppress(grid)
    # a's 1 is small and alone in its week and in its row: more cells must go until no week and
    # no compartment has exactly one hidden count (which the totals would give away).
    hidden = {(k, w) for k, row in out.items() for w, (n, _) in enumerate(row) if n is None}
    assert ("a", 1) in hidden
    assert out["a"][1] == (None, True)
    for key, row in out.items():
        assert sum(n is None for n, _ in row) != 1, key
    for w in range(4):
        assert sum(out[k][w][0] is None for k in out) != 1, w
    assert all(
        small is False
        for k, row in out.items()
        for w, (_, small) in enumerate(row)
        if (k, w) != ("a", 1)
    )


def test_suppression_leaves_grids_without_small_counts_alone():
    grid = {"a": [5, 0, 3], "b": [0, 0, 9]}
    assert _suppress(grid) == {
        "a": [(5, False), (0, False), (3, False)],
        "b": [(0, False), (0, False), (9, False)],
    }


@pytest.mark.parametrize(
    ("acknowledged", "last_day_in_time"),
    [
        ("2026-11-30", "2027-02-28"),  # clamped to February's end
        ("2026-08-31", "2026-11-30"),
        ("2026-01-31", "2026-04-30"),
        ("2023-11-30", "2024-02-29"),  # leap year
        ("2026-10-15", "2027-01-15"),  # across the year
    ],
)
def test_three_month_rule_in_sql_matches_the_queue_deadline(
    engine: Engine, acknowledged: str, last_day_in_time: str
):
    ack = date.fromisoformat(acknowledged)
    due = date.fromisoformat(last_day_in_time)
    assert add_months(ack, 3) == due
    after = date.fromordinal(due.toordinal() + 1)
    with engine.connect() as conn:
        on_due = conn.scalar(select(_within_months(day_literal(due), day_literal(ack), 3)))
        day_after = conn.scalar(select(_within_months(day_literal(after), day_literal(ack), 3)))
    assert bool(on_due) is True
    assert bool(day_after) is False


def test_empty_instance_has_zero_figures(engine: Engine, settings: Settings):
    seed_border(engine, settings)
    with session_scope(make_session_factory(engine)) as session:
        result = stats(session, today=TODAY, weeks=26)
    assert len(result.weekly) == 26
    assert result.weekly[-1].week == "2026-W48"
    assert all(w.count == 0 for w in result.weekly)
    assert result.overall.ack_times == AckTimes(0, None, None)
    assert result.overall.acknowledgement == Deadline()


def test_weeks_out_of_range_is_refused(engine: Engine, settings: Settings):
    with (
        session_scope(make_session_factory(engine)) as session,
        pytest.raises(ValueError, match="weeks"),
    ):
        stats(session, today=TODAY, weeks=0)


def test_closures_and_contested_closures_per_compartment_and_closing_reviewer(
    engine: Engine, settings: Settings
) -> None:
    build_history(engine, settings, seed_border(engine, settings))
    with session_scope(make_session_factory(engine)) as session:
        assert _by_compartment(session) == {"mx": [0, 0], "oversight": [0, 0], "us": [3, 1]}
        assert _by_reviewer(session) == {"ana": [3, 1]}  # the requester, not sam who approved
        counts = closure_counts(session)
    us = next(r for r in counts.by_compartment if r.name == "us")
    assert (us.contested.count, us.contested.label) == (None, "<3")  # a lone contested closure
    assert us.closures.count is None  # else it and the total would give the hidden one away
    [ana] = counts.by_reviewer
    assert (ana.name, ana.contested.label) == ("ana", "<3")
    assert counts.total.contested.count is None


def test_closure_counts_of_three_or_more_are_shown(engine: Engine, settings: Settings) -> None:
    grid = {"a": [5, 3], "b": [4, 3]}
    assert _suppress(grid) == {"a": [(5, False), (3, False)], "b": [(4, False), (3, False)]}


def test_closure_counts_are_in_the_json(history_stats):
    body = as_json(history_stats)["closures"]
    assert set(body) == {"total", "by_compartment", "by_reviewer"}
    assert [r["compartment"] for r in body["by_compartment"]] == ["mx", "oversight", "us"]
    assert body["by_reviewer"][0]["reviewer"] == "ana"
    assert body["by_reviewer"][0]["contested"] == {"count": None, "label": "<3"}


def test_tips_received_today_count_from_tomorrow(engine: Engine, settings: Settings) -> None:
    """Polling the figures must not time a submission: today's tips are left out of every count
    until the day is over (they would otherwise appear minute by minute)."""
    seed_border(engine, settings)
    intake(engine, settings, received_on=TODAY)
    with session_scope(make_session_factory(engine)) as session:
        today = stats(session, today=TODAY)
        tomorrow = stats(session, today=date.fromordinal(TODAY.toordinal() + 1))
    assert today.overall.tips == 0
    assert sum(w.count or 0 for w in today.weekly) == 0
    assert today.overall.open_by_status.get("received", 0) == 0
    assert today.overall.acknowledgement == Deadline()
    assert tomorrow.overall.acknowledgement == Deadline(open_in_time=1)
    assert tomorrow.overall.tips == 1
    assert tomorrow.overall.open_by_status["received"] == 1
