"""One tip as its readers see it: content decrypted with their own key, audited before it
leaves, nothing for anyone outside the audience (conflicted staff, admins), related tips only if
readable."""

from __future__ import annotations

import json
import uuid
from datetime import date

import pytest
from sqlalchemy import Engine, delete, select

from crypto.age import decrypt_bytes
from crypto.errors import DecryptionError
from service.audit.log import history
from service.audit.models import AuditEntry
from service.blobs.store import iter_blob
from service.config import Settings
from service.db import make_session_factory, session_scope, utcnow
from service.errors import NotFound
from service.instance.context import load_context
from service.staff.models import Role
from service.tips.casework import add_note
from service.tips.conversation import post_staff_message
from service.tips.intake import begin_tip
from service.tips.keys import envelope_bytes
from service.tips.models import Envelope, EnvelopeKind, Tip
from service.tips.related import related_tips
from service.tips.schemas import TipSubmission
from service.tips.view import open_attachment, tip_view
from tests.factories import (
    Border,
    add_conflict,
    add_staff,
    file_tip,
    principal,
    tip_json,
)
from tests.service.access_util import envelopes
from tests.service.evidence_samples import SECRET, jpeg_file

DAY = date(2026, 11, 2)


def file_with_photo(engine: Engine, settings: Settings, **overrides: object) -> uuid.UUID:
    submission = TipSubmission.model_validate(tip_json(**overrides))
    with session_scope(make_session_factory(engine)) as session:
        pending = begin_tip(session, load_context(session, settings), submission, today=DAY)
        writer = pending.add_attachment("../IMG 0001.jpg")
        writer.write(jpeg_file())
        writer.close()
        result = pending.finish()
    assert result.tip_id is not None
    return result.tip_id


def entries(engine: Engine, tip_id: uuid.UUID, action: str) -> int:
    with make_session_factory(engine)() as session:
        return sum(1 for e in history(session, tip_id) if e.action == action)


def test_a_reader_sees_the_whole_tip_decrypted(
    engine: Engine, settings: Settings, border: Border
) -> None:
    tip_id = file_with_photo(engine, settings, threat_to_life=True)
    ana = principal(border.reviewer_us)
    with session_scope(make_session_factory(engine)) as session:
        tip = session.get(Tip, tip_id)
        assert tip is not None
        post_staff_message(session, tip, "Can you say which day?", staff_id=ana.staff_id, today=DAY)
    with session_scope(make_session_factory(engine)) as session:
        add_note(session, ana, tip_id, "Matches the 2025 complaint.", now=utcnow())
    with session_scope(make_session_factory(engine)) as session:
        view = tip_view(session, ana, tip_id)
    assert view.report["narrative"].startswith("Sergeant Ramirez takes cash")
    assert view.report["subjects"][0]["badge"] == "4471"
    assert view.report["allegations"] == ["bribery", "leaking"]
    assert (view.report["location"], view.report["incident_date"]) == (
        "Ysleta port of entry",
        "2026-10",
    )
    assert view.report["threat_to_life"] is True
    assert view.urgent
    assert "threat_to_life" in view.priority_reasons
    (evidence,) = view.evidence
    assert "/" not in evidence.name
    assert evidence.cleaned
    assert evidence.removed
    assert evidence.kind
    (message,) = view.conversation
    assert (message.author, message.from_reporter, message.body) == (
        "ana",
        False,
        "Can you say which day?",
    )
    (note,) = view.notes
    assert (note.author, note.kind, note.body) == ("ana", "note", "Matches the 2025 complaint.")
    assert [h.action for h in view.history][-1] == "tip.viewed"
    assert (view.compartment, view.status, view.received_on) == ("us", "received", DAY)
    assert view.contact_on_file is None  # a reviewer is no identity custodian


def test_each_view_leaves_exactly_one_audit_entry(
    engine: Engine, settings: Settings, border: Border
) -> None:
    tip_id = file_tip(engine, settings, received_on=DAY)
    for n in (1, 2):
        with session_scope(make_session_factory(engine)) as session:
            tip_view(session, principal(border.reviewer_us), tip_id)
        assert entries(engine, tip_id, "tip.viewed") == n
    with make_session_factory(engine)() as session:
        found = session.scalars(select(AuditEntry).where(AuditEntry.tip_id == tip_id)).all()
    assert [e.actor for e in found] == [str(border.reviewer_us.id)] * 2


def test_a_view_that_is_rolled_back_leaves_no_entry(
    engine: Engine, settings: Settings, border: Border
) -> None:
    tip_id = file_tip(engine, settings, received_on=DAY)
    with make_session_factory(engine)() as session:
        tip_view(session, principal(border.reviewer_us), tip_id)
        session.rollback()
    assert entries(engine, tip_id, "tip.viewed") == 0


def test_custodians_learn_only_that_a_contact_is_on_file(
    engine: Engine, settings: Settings, border: Border
) -> None:
    contact = "Signal +52 664 000 0000"
    with_contact = file_tip(engine, settings, received_on=DAY, contact=contact)
    without = file_tip(engine, settings, received_on=DAY)
    sam = principal(border.supervisor_us, Role.SUPERVISOR)
    with session_scope(make_session_factory(engine)) as session:
        on_file = tip_view(session, sam, with_contact)
        none = tip_view(session, sam, without)
        for_reviewer = tip_view(session, principal(border.reviewer_us), with_contact)
    assert (on_file.contact_on_file, none.contact_on_file) == (True, False)
    assert for_reviewer.contact_on_file is None
    assert contact not in repr(on_file)
    assert "contact" not in on_file.report


def test_a_conflicted_reviewer_gets_404_and_cannot_open_any_envelope(
    engine: Engine, settings: Settings, border: Border
) -> None:
    add_conflict(engine, settings, border.reviewer_us.id, "name", "juan ramirez")
    tip_id = file_with_photo(engine, settings, contact="Signal +52 664 000 0000")
    ana = principal(border.reviewer_us)
    with make_session_factory(engine)() as session:
        with pytest.raises(NotFound):
            tip_view(session, ana, tip_id)
        (attachment_id,) = [
            e.id for e in tip_view(session, principal(border.supervisor_us), tip_id).evidence
        ]
        session.rollback()
        with pytest.raises(NotFound):
            open_attachment(session, ana, tip_id, attachment_id)
        with pytest.raises(NotFound):
            related_tips(session, ana.staff_id, tip_id)
    opened = envelopes(engine, tip_id)
    assert set(opened) == {"staff", "reporter", "identity"}
    for data in opened.values():
        with pytest.raises(DecryptionError):
            decrypt_bytes(data, [border.reviewer_us.identity])
    assert entries(engine, tip_id, "tip.viewed") == 0


def test_staff_outside_the_audience_read_nothing(
    engine: Engine, settings: Settings, border: Border
) -> None:
    tip_id = file_tip(engine, settings, received_on=DAY)
    admin = add_staff(engine, settings, "root2", Role.ADMIN, [])
    outsiders = [
        principal(border.reviewer_mx),
        principal(border.oversight),
        principal(admin, Role.ADMIN),
    ]
    with make_session_factory(engine)() as session:
        for outsider in outsiders:
            with pytest.raises(NotFound):
                tip_view(session, outsider, tip_id)
        with pytest.raises(NotFound):
            tip_view(session, principal(border.reviewer_us), uuid.uuid4())


def test_the_audience_check_is_also_cryptographic(
    engine: Engine, settings: Settings, border: Border
) -> None:
    """A principal whose key is not a recipient opens nothing, whatever the audience table says."""
    tip_id = file_tip(engine, settings, received_on=DAY)
    wrong_key = principal(border.reviewer_us).__class__(
        staff_id=border.reviewer_us.id,
        username="ana",
        role=Role.REVIEWER,
        identity=border.reviewer_mx.identity,
        session_id=uuid.uuid4(),
    )
    with make_session_factory(engine)() as session, pytest.raises(NotFound):
        tip_view(session, wrong_key, tip_id)


def test_a_download_is_audited_and_streams_the_cleaned_file(
    engine: Engine, settings: Settings, border: Border
) -> None:
    tip_id = file_with_photo(engine, settings)
    ana = principal(border.reviewer_us)
    with session_scope(make_session_factory(engine)) as session:
        (item,) = tip_view(session, ana, tip_id).evidence
    with session_scope(make_session_factory(engine)) as session:
        download = open_attachment(session, ana, tip_id, item.id)
    assert entries(engine, tip_id, "attachment.downloaded") == 1
    with make_session_factory(engine)() as session:
        data = b"".join(iter_blob(session, download.blob_id, [download.identity]))
    assert data[:2] == b"\xff\xd8"
    assert SECRET.encode() not in data
    assert len(data) == download.size == item.size
    assert download.name == item.name


def test_an_attachment_of_another_tip_is_not_found(
    engine: Engine, settings: Settings, border: Border
) -> None:
    first = file_with_photo(engine, settings)
    second = file_tip(engine, settings, received_on=DAY)
    ana = principal(border.reviewer_us)
    with session_scope(make_session_factory(engine)) as session:
        (item,) = tip_view(session, ana, first).evidence
    with make_session_factory(engine)() as session:
        with pytest.raises(NotFound):
            open_attachment(session, ana, second, item.id)
        with pytest.raises(NotFound):
            open_attachment(session, ana, first, uuid.uuid4())
    assert entries(engine, first, "attachment.downloaded") == 0


def test_related_tips_share_a_subject_and_are_readable(
    engine: Engine, settings: Settings, border: Border
) -> None:
    first = file_tip(engine, settings, received_on=DAY)
    same_badge = file_tip(
        engine, settings, received_on=DAY, subjects=[{"badge": "4471", "unit": "Other Unit"}]
    )
    same_unit = file_tip(
        engine,
        settings,
        received_on=DAY,
        subjects=[{"name": "Someone Else", "unit": "bridge  unit 3"}],
    )
    unrelated = file_tip(engine, settings, received_on=DAY, subjects=[{"unit": "Harbour"}])
    in_mx = file_tip(engine, settings, received_on=DAY, agency="tijuana-municipal")
    with make_session_factory(engine)() as session:
        related = {r.id: r.matches for r in related_tips(session, border.reviewer_us.id, first)}
        from_mx = related_tips(session, border.reviewer_mx.id, in_mx)
    assert related == {same_badge: ("badge",), same_unit: ("unit",)}
    assert unrelated not in related
    assert in_mx not in related
    assert from_mx == []  # the Mexican reviewer reads none of the US tips naming Ramírez
    assert all("4471" not in repr(r) for r in related.values())


def test_the_stored_report_is_ciphertext(
    engine: Engine, settings: Settings, border: Border
) -> None:
    tip_id = file_tip(engine, settings, received_on=DAY)
    with make_session_factory(engine)() as session:
        envelope = session.get(Envelope, (tip_id, "staff"))
        assert envelope is not None
        assert b"Ramirez" not in envelope.data
        assert envelope.bucket == "open-" + DAY.strftime("%Y-%m")
        staff = envelope_bytes(session, tip_id, EnvelopeKind.STAFF)
        assert staff is not None
        keys = json.loads(decrypt_bytes(staff, [border.reviewer_us.identity]))
    assert set(keys) == {"conversation", "case"}


def test_a_purged_tip_shows_its_dates_and_history_but_no_content(
    engine: Engine, settings: Settings, border: Border
) -> None:
    tip_id = file_with_photo(engine, settings)
    with session_scope(make_session_factory(engine)) as session:
        session.execute(delete(Envelope).where(Envelope.tip_id == tip_id))
        tip = session.get(Tip, tip_id)
        assert tip is not None
        tip.purged = True
    with session_scope(make_session_factory(engine)) as session:
        view = tip_view(session, principal(border.reviewer_us), tip_id)
    assert view.purged
    assert (view.report, view.evidence, view.conversation, view.related) == ({}, [], [], [])
    assert view.history[-1].action == "tip.viewed"
    with make_session_factory(engine)() as session, pytest.raises(NotFound):
        tip_view(session, principal(border.reviewer_mx), tip_id)
