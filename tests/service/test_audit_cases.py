"""The auditors' case list (service.audit.cases) and `probity audit cases`, on both backends.

The history is the statistics tests' (tests/service/stats_util.py, worked out by hand there), as
of 2026-11-25; one more tip is put under legal hold and one is purged. Every row is checked
column by column, the deadlines are checked against the statistics' counts, and the output is
searched for what the reporters wrote.
"""

from __future__ import annotations

import csv
import io
import re
import uuid
from collections import Counter
from datetime import date, timedelta
from typing import Any

import pytest
from sqlalchemy import Engine, select, update
from typer.testing import CliRunner

from service.approvals import service as approvals
from service.audit import cases
from service.audit.canonical import decode_entry
from service.audit.cases import (
    COLUMNS,
    CaseFilters,
    acknowledgement_state,
    case_csv,
    case_rows,
    csv_cell,
    feedback_state,
    record_case_export,
)
from service.audit.models import AuditEntry
from service.audit.stats import stats
from service.cli import app
from service.compartments.models import Compartment
from service.config import Settings
from service.db import make_session_factory, utcnow
from service.errors import InvalidInput
from service.retention.sweep import purge_job
from service.staff.models import Role
from service.tips import casework
from tests.factories import Border, in_tx, intake, principal, seed_border, transaction
from tests.service.stats_util import NARRATIVE, SUBJECT, TODAY, build_history

runner = CliRunner()
MARKERS = (NARRATIVE, SUBJECT, "Ramirez", "4471", "Bridge Unit 3", "Ysleta")
# A tip whose every reporter-written field carries a marker.
MARKED = {
    "narrative": "zqnarrative marker text",
    "subjects": [
        {"name": "Zqname Zqsurname", "badge": "ZQ9911", "rank": "zqrank", "unit": "zqunit"}
    ],
    "location": "zqlocation",
    "incident_date": "1999-04",
    "contact": "zqcontact signal 555-0199",
}


def _read(engine: Engine, filters: CaseFilters | None = None, today: date = TODAY) -> bytes:
    with transaction(engine) as session:
        return b"".join(case_csv(session, filters or CaseFilters(), today=today))


def _table(data: bytes) -> list[dict[str, str]]:
    return list(csv.DictReader(io.StringIO(data.decode())))


@pytest.fixture
def history(engine: Engine, settings: Settings) -> tuple[Border, dict[str, uuid.UUID]]:
    border = seed_border(engine, settings)
    h = build_history(engine, settings, border)
    ana = principal(border.reviewer_us, Role.REVIEWER)
    sam = principal(border.supervisor_us, Role.SUPERVISOR)
    held = h.tip("2026-11-19")
    with transaction(engine) as session:
        casework.set_flags(session, ana, held, legal_hold=True, now=utcnow())
    purged = h.tip("2026-11-20")
    asked = in_tx(engine, lambda s: approvals.request(s, ana, purged, kind="purge", now=utcnow()))
    in_tx(engine, lambda s: approvals.decide(s, sam, asked.id, approve=True, now=utcnow()))
    assert purge_job(make_session_factory(engine), settings) == 1  # the worker carries it out
    return border, {"held": held, "purged": purged}


def _by_key(rows: list[dict[str, str]]) -> dict[tuple[str, str, str], dict[str, str]]:
    out = {(r["compartment"], r["received_on"], r["status"]): r for r in rows}
    assert len(out) == len(rows)
    return out


def test_columns_and_one_row_per_tip_in_id_order(engine: Engine, history) -> None:
    data = _read(engine)
    assert data.startswith((",".join(COLUMNS) + "\r\n").encode())
    rows = _table(data)
    assert len(rows) == 11
    assert [r["id"] for r in rows] == sorted(r["id"] for r in rows)
    assert all(str(uuid.UUID(r["id"])) == r["id"] for r in rows)


def test_each_row_says_what_the_clear_columns_say(engine: Engine, history) -> None:
    rows = _by_key(_table(_read(engine)))
    fields = (
        "agency closure_reason acknowledged_on closed_on allegations findings"
        " acknowledgement_deadline feedback_deadline legal_hold purged"
    ).split()
    expected = {
        ("us", "2026-11-02", "closed"): "el-paso-pd findings 2026-11-05 2026-11-20 bribery;leaking"
        " bribery:sustained;leaking:not_sustained met met false false",
        ("us", "2026-11-03", "closed"): "el-paso-pd duplicate 2026-11-12 2026-11-13 - -"
        " missed met false false",
        ("us", "2026-11-10", "triage"): "el-paso-pd - 2026-11-11 - - - met pending false false",
        ("us", "2026-11-10", "received"): "el-paso-pd - - - - - missed pending false false",
        ("us", "2026-11-24", "received"): "el-paso-pd - - - - - pending pending false false",
        ("us", "2026-08-01", "investigating"): "el-paso-pd - 2026-08-03 - - - met missed"
        " false false",
        ("us", "2026-07-01", "closed"): "el-paso-pd spam 2026-07-02 2026-10-15 - - met missed"
        " false false",
        ("mx", "2026-11-17", "triage"): "tijuana-municipal - 2026-11-24 - - - met pending"
        " false false",
        ("mx", "2026-11-17", "received"): "tijuana-municipal - - - - - missed pending false false",
        ("us", "2026-11-19", "received"): "el-paso-pd - - - - - pending pending true false",
        ("us", "2026-11-20", "received"): "el-paso-pd - - - - - pending pending false true",
    }
    got = {key: " ".join(row[f] or "-" for f in fields) for key, row in rows.items()}
    assert got == expected


def test_deadlines_agree_with_the_statistics(engine: Engine, history) -> None:
    today = date(2026, 12, 30)  # later: feedback deadlines fall due, more acknowledgements late
    rows = _table(_read(engine, today=today))
    with transaction(engine) as session:
        figures = stats(session, today=today, weeks=4).overall
    acked = [r for r in rows if r["acknowledged_on"]]
    ack = Counter(r["acknowledgement_deadline"] for r in acked)
    assert (ack["met"], ack["missed"]) == (
        figures.acknowledgement.on_time,
        figures.acknowledgement.late,
    )
    waiting = Counter(r["acknowledgement_deadline"] for r in rows if not r["acknowledged_on"])
    assert waiting["missed"] == figures.acknowledgement.open_overdue
    assert waiting["pending"] == figures.acknowledgement.open_in_time
    closed = Counter(r["feedback_deadline"] for r in acked if r["status"] == "closed")
    still_open = Counter(r["feedback_deadline"] for r in acked if r["status"] != "closed")
    assert (closed["met"], closed["missed"]) == (figures.feedback.on_time, figures.feedback.late)
    assert still_open["missed"] == figures.feedback.open_overdue
    assert still_open["pending"] == figures.feedback.open_in_time


def test_deadline_rules_at_their_edges() -> None:
    received = date(2026, 11, 1)
    assert acknowledgement_state(received, date(2026, 11, 8), False, TODAY) == "met"
    assert acknowledgement_state(received, date(2026, 11, 9), True, TODAY) == "missed"
    assert acknowledgement_state(received, None, False, date(2026, 11, 8)) == "pending"
    assert acknowledgement_state(received, None, False, date(2026, 11, 9)) == "missed"
    acked = date(2026, 11, 30)  # due 2027-02-28 (clamped)
    assert feedback_state(acked, date(2027, 2, 28), True, TODAY) == "met"
    assert feedback_state(acked, date(2027, 3, 1), True, TODAY) == "missed"
    assert feedback_state(acked, None, False, date(2027, 2, 28)) == "pending"
    assert feedback_state(acked, None, False, date(2027, 3, 1)) == "missed"
    assert feedback_state(None, None, False, TODAY) == "pending"


def test_nothing_a_reporter_wrote_appears(engine: Engine, settings: Settings, history) -> None:
    intake(engine, settings, MARKED)
    data = _read(engine)
    text = data.decode()
    for marker in (*MARKERS, "Sgt", "Juan", "1999", "555-0199"):
        assert marker not in text, marker
    assert "zq" not in text.lower()
    # Days only, never a time of day.
    for row in _table(data):
        for name in ("received_on", "acknowledged_on", "closed_on"):
            assert re.fullmatch(r"(\d{4}-\d{2}-\d{2})?", row[name]), row[name]


def test_filters_by_compartment_and_closing_day(engine: Engine, history) -> None:
    us = _table(_read(engine, CaseFilters(compartment="us")))
    assert len(us) == 9
    assert {r["compartment"] for r in us} == {"us"}
    november = _table(
        _read(engine, CaseFilters(closed_since=date(2026, 11, 13), closed_until=date(2026, 11, 20)))
    )
    assert sorted(r["closed_on"] for r in november) == ["2026-11-13", "2026-11-20"]
    day = _table(
        _read(engine, CaseFilters(closed_since=date(2026, 11, 13), closed_until=date(2026, 11, 13)))
    )
    assert [r["closure_reason"] for r in day] == ["duplicate"]
    since = _table(_read(engine, CaseFilters(closed_since=date(2026, 11, 14))))
    assert [r["closed_on"] for r in since] == ["2026-11-20"]


def test_bad_filters_are_refused_before_anything_is_recorded(engine: Engine, history) -> None:
    with pytest.raises(InvalidInput) as bad:
        CaseFilters(closed_since=date(2026, 11, 2), closed_until=date(2026, 11, 1))
    assert bad.value.fields == {"closed_until": "before_since"}
    with pytest.raises(InvalidInput) as unknown, transaction(engine) as session:
        record_case_export(
            session, actor="system", filters=CaseFilters("nowhere"), via="cli", today=TODAY
        )
    assert unknown.value.fields == {"compartment": "unknown"}
    assert _exports(engine) == []


def _exports(engine: Engine) -> list[dict[str, Any]]:
    with engine.connect() as conn:
        rows = conn.scalars(
            select(AuditEntry.canonical).where(AuditEntry.action == "audit.cases_exported")
        )
        return [decode_entry(bytes(c)).details for c in rows]


def test_the_export_is_recorded_with_its_count(engine: Engine, history) -> None:
    with transaction(engine) as session:
        count = record_case_export(
            session, actor="system", filters=CaseFilters("mx"), via="cli", today=TODAY
        )
        mx = session.scalar(select(Compartment.id).where(Compartment.name == "mx"))
    assert count == 2
    assert _exports(engine) == [
        {
            "via": "cli",
            "count": 2,
            "compartment": str(mx),
            "closed_since": None,
            "closed_until": None,
        }
    ]


def test_cells_that_would_start_a_formula_are_quoted(engine: Engine, settings: Settings) -> None:
    values = ("=1+1", "+1", "-1", "@SUM(A1)", "\tx", "\rx", "a=b", "")
    quoted = ["'=1+1", "'+1", "'-1", "'@SUM(A1)", "'\tx", "'\rx", "a=b", ""]
    assert [csv_cell(v) for v in values] == quoted
    # Names are validated today (they start with a letter or digit); a name written before
    # that, or behind the app's back, still reaches a spreadsheet as text.
    seed_border(engine, settings)
    intake(engine, settings, received_on=TODAY - timedelta(days=1))  # listed from the day after
    with transaction(engine) as session:
        session.execute(
            update(Compartment).where(Compartment.name == "us").values(name="=HYPERLINK(x)")
        )
    assert [r["compartment"] for r in _table(_read(engine))] == ["'=HYPERLINK(x)"]


def test_a_long_list_streams_page_by_page_in_order(
    engine: Engine, settings: Settings, monkeypatch: pytest.MonkeyPatch
) -> None:
    seed_border(engine, settings)
    ids = {intake(engine, settings, received_on=TODAY - timedelta(days=1))[0] for _ in range(300)}
    monkeypatch.setattr(cases, "PAGE", 64)
    with transaction(engine) as session:
        chunks = list(case_csv(session, CaseFilters(), today=TODAY))
        rows = list(case_rows(session, CaseFilters(), today=TODAY))
    assert len(chunks) == 1 + 5  # the header, then pages of 64, 64, 64, 64, 44
    listed = [uuid.UUID(r["id"]) for r in _table(b"".join(chunks))]
    assert listed == sorted(ids) == [r.id for r in rows]


def test_cli_writes_the_list_to_a_file_and_to_standard_output(
    engine: Engine, cheap_kdf_env: Settings, history, tmp_path
) -> None:
    target = tmp_path / "cases.csv"
    result = runner.invoke(app, ["audit", "cases", str(target), "--compartment", "us"])
    assert result.exit_code == 0, result.output
    assert "Wrote 9 tips" in result.output
    today = utcnow().date()
    assert target.read_bytes() == _read(engine, CaseFilters("us"), today=today)
    assert not (tmp_path / "cases.csv.partial").exists()
    piped = runner.invoke(app, ["audit", "cases", "-", "--closed-since", "2026-11-14"])
    assert piped.exit_code == 0, piped.output
    assert piped.stdout_bytes == _read(
        engine, CaseFilters(closed_since=date(2026, 11, 14)), today=today
    )
    assert [d["count"] for d in _exports(engine)] == [9, 1]
    assert [d["via"] for d in _exports(engine)] == ["cli", "cli"]


def test_cli_refuses_bad_filters_and_leaves_no_file(
    engine: Engine, cheap_kdf_env: Settings, history, tmp_path
) -> None:
    target = tmp_path / "cases.csv"
    unknown = runner.invoke(app, ["audit", "cases", str(target), "--compartment", "nowhere"])
    assert unknown.exit_code == 1
    assert "no such compartment" in unknown.output
    backwards = runner.invoke(
        app,
        [
            "audit",
            "cases",
            str(target),
            "--closed-since",
            "2026-11-02",
            "--closed-until",
            "2026-11-01",
        ],
    )
    assert backwards.exit_code == 1
    bad_day = runner.invoke(app, ["audit", "cases", str(target), "--closed-since", "yesterday"])
    assert bad_day.exit_code == 2
    assert list(tmp_path.glob("cases.csv*")) == []
    assert _exports(engine) == []
