"""Access changes on tip keys: granting is queued until a supervisor applies it, removing is
immediate in the query and complete in storage after the rewrite; conflicts, reveal, reroute."""

from __future__ import annotations

from functools import partial

import pytest
from sqlalchemy import Engine, func, select
from sqlalchemy.orm import Session

from service.access.grants import reroute_tip, reveal_identity
from service.access.models import IdentityGrant, PendingAccessChange
from service.access.readerless import Backlog, access_backlog
from service.access.service import (
    conflict_counts,
    pending_for,
    remove_member_with_access,
)
from service.audit.log import history
from service.audit.models import AuditEntry
from service.compartments.models import Membership
from service.config import Settings
from service.db import make_session_factory, session_scope
from service.errors import Conflict, InvalidInput, NotFound, NotPermitted
from service.staff.models import Role, StaffConflict
from service.tips.models import Tip, TipAudience
from tests.factories import StaffHandle, add_conflict, file_tip, in_tx, principal
from tests.service.access_util import (
    World,
    apply_as,
    audience,
    blob_bytes,
    blob_payloads,
    can_open,
    decide_as,
    envelopes,
    readable,
    request_membership,
    staff_row,
)

STAFF, IDENTITY = "staff", "identity"


def _add(engine: Engine, w: World, who: StaffHandle, compartment: str = "us") -> int:
    """An admin's request, then sam's (us supervisor) four-eyes approval; the adds queued."""
    pending = request_membership(engine, who, compartment)
    assert pending == 0
    return decide_as(engine, w.sam, who, compartment)


def _remove(engine: Engine, who: StaffHandle, compartment: str = "us") -> int:
    def remove(session: Session) -> int:
        staff = staff_row(session, who)
        return remove_member_with_access(
            session, compartment=compartment, staff=staff, actor="system"
        )

    return in_tx(engine, remove)


def _pending_count(engine: Engine) -> int:
    with engine.connect() as connection:
        return connection.scalar(select(func.count()).select_from(PendingAccessChange)) or 0


def test_added_member_gets_the_keys_only_after_a_supervisor_applies(
    engine: Engine, w: World
) -> None:
    blobs_before = blob_bytes(engine, w.tip)
    assert _add(engine, w, w.rita) == 1
    assert not readable(engine, w.rita.id, w.tip)
    assert not can_open(engine, w.tip, STAFF, w.rita.identity)
    assert [p.adds for p in in_tx(engine, lambda s: pending_for(s, w.sam))] == [1]

    assert apply_as(engine, w.sam) == 1

    assert readable(engine, w.rita.id, w.tip)
    assert can_open(engine, w.tip, STAFF, w.rita.identity)
    assert not can_open(engine, w.tip, IDENTITY, w.rita.identity)  # a reviewer: no custodian
    assert can_open(engine, w.tip, STAFF, w.border.reviewer_us.identity)
    assert can_open(engine, w.tip, IDENTITY, w.border.supervisor_us.identity)
    assert blob_bytes(engine, w.tip) == blobs_before
    assert _pending_count(engine) == 0


def test_added_supervisor_becomes_an_identity_custodian(engine: Engine, w: World) -> None:
    _add(engine, w, w.sue)
    apply_as(engine, w.sam)
    assert audience(engine, w.tip)[w.sue.id] is True
    assert can_open(engine, w.tip, IDENTITY, w.sue.identity)


def test_added_member_is_skipped_on_tips_naming_their_conflict(
    engine: Engine, settings: Settings, w: World
) -> None:
    other = file_tip(engine, settings, subjects=[{"name": "Pedro Soto", "unit": "Night Shift"}])
    add_conflict(engine, settings, w.rita.id, "name", "juan ramirez")
    assert _add(engine, w, w.rita) == 1  # `other` only
    apply_as(engine, w.sam)
    assert not readable(engine, w.rita.id, w.tip)
    assert not can_open(engine, w.tip, STAFF, w.rita.identity)
    assert can_open(engine, other, STAFF, w.rita.identity)


def test_removed_member_gets_404_at_once_and_no_envelope_afterapply_as(
    engine: Engine, w: World
) -> None:
    _add(engine, w, w.sue)
    apply_as(engine, w.sam)
    assert _remove(engine, w.sue) == 1
    assert not readable(engine, w.sue.id, w.tip)
    memberships = select(func.count()).where(Membership.staff_id == w.sue.id)
    assert in_tx(engine, lambda s: s.scalar(memberships)) == 0
    # Until a supervisor applies the rewrite, the old header still lists her.
    assert can_open(engine, w.tip, IDENTITY, w.sue.identity)
    assert [p.removes for p in in_tx(engine, lambda s: pending_for(s, w.sam))] == [1]

    apply_as(engine, w.sam)

    assert not can_open(engine, w.tip, STAFF, w.sue.identity)
    assert not can_open(engine, w.tip, IDENTITY, w.sue.identity)
    assert can_open(engine, w.tip, STAFF, w.border.recovery_identity)
    assert can_open(engine, w.tip, IDENTITY, w.border.recovery_identity)


def test_removing_the_last_reader_is_refused_and_changes_nothing(engine: Engine, w: World) -> None:
    with pytest.raises(Conflict, match="no reader"):
        _remove(engine, w.border.reviewer_mx, "mx")
    assert readable(engine, w.border.reviewer_mx.id, w.mx_tip)
    assert _pending_count(engine) == 0


def test_removing_a_non_member_is_404(engine: Engine, w: World) -> None:
    with pytest.raises(NotFound):
        _remove(engine, w.rita)


def test_conflicted_reviewer_gets_404_at_once_and_opens_no_envelope_afterapply_as(
    engine: Engine, settings: Settings, w: World
) -> None:
    ana = w.border.reviewer_us
    blobs_before, payloads_before = blob_bytes(engine, w.tip), blob_payloads(engine, w.tip)
    outcome = add_conflict(engine, settings, ana.id, "name", "  JUAN   RAMIREZ ")
    assert (outcome.tips_removed, outcome.left_without_reader) == (1, 0)
    assert not readable(engine, ana.id, w.tip)
    assert readable(engine, ana.id, w.mx_tip) is False  # never was hers

    apply_as(engine, w.sam)

    stored = envelopes(engine, w.tip)
    assert set(stored) == {"staff", "reporter", "identity"}
    for kind in stored:
        assert not can_open(engine, w.tip, kind, ana.identity), kind
    for kind in (STAFF, IDENTITY):
        assert can_open(engine, w.tip, kind, w.border.recovery_identity)
    assert can_open(engine, w.tip, STAFF, w.border.supervisor_us.identity)
    # The keys rotated: every header is new, every payload as it was.
    assert blob_payloads(engine, w.tip) == payloads_before
    assert all(a[2] != b[2] for a, b in zip(blob_bytes(engine, w.tip), blobs_before, strict=True))


def test_conflict_audit_entry_names_the_kind_but_never_the_value(
    engine: Engine, settings: Settings, w: World
) -> None:
    add_conflict(engine, settings, w.border.reviewer_us.id, "badge", "4471")
    registered = select(AuditEntry.canonical).where(AuditEntry.action == "conflict.registered")
    canonical = in_tx(engine, lambda s: s.scalar(registered))
    assert b'"kind":"badge"' in canonical
    assert b"4471" not in canonical
    counts = in_tx(engine, lambda s: conflict_counts(s, staff_row(s, w.border.reviewer_us)))
    assert counts == {"name": 0, "badge": 1, "unit": 0}


def test_conflict_removes_even_the_only_reader(
    engine: Engine, settings: Settings, w: World
) -> None:
    outcome = add_conflict(engine, settings, w.border.reviewer_mx.id, "unit", "bridge unit 3")
    assert (outcome.tips_removed, outcome.left_without_reader) == (1, 1)
    assert not readable(engine, w.border.reviewer_mx.id, w.mx_tip)
    assert can_open(engine, w.mx_tip, STAFF, w.border.recovery_identity)


def test_registering_a_conflict_twice_is_quiet_and_bad_values_are_refused(
    engine: Engine, settings: Settings, w: World
) -> None:
    add_conflict(engine, settings, w.rita.id, "name", "Juan Ramírez")
    again = add_conflict(engine, settings, w.rita.id, "name", "juan ramirez")
    assert again.tips_removed == 0
    for kind, value in (("rank", "Sgt"), ("name", " ,. "), ("unit", "x" * 201)):
        with pytest.raises(InvalidInput):
            add_conflict(engine, settings, w.rita.id, kind, value)
    rows = in_tx(engine, lambda s: s.scalar(select(func.count()).select_from(StaffConflict)))
    assert rows == 1


def test_reviewer_cannotapply_as(engine: Engine, w: World) -> None:
    _add(engine, w, w.rita)
    with pytest.raises(NotPermitted):
        apply_as(engine, w.ana)
    assert _pending_count(engine) == 1
    assert in_tx(engine, lambda s: pending_for(s, w.ana)) == []


def test_a_rewrite_that_cannot_open_the_envelope_changes_nothing(engine: Engine, w: World) -> None:
    _add(engine, w, w.rita)
    # sue is listed as a custodian but no envelope holds her key (a stale or forged row).
    in_tx(
        engine,
        lambda s: s.add(TipAudience(tip_id=w.tip, staff_id=w.sue.id, identity_custodian=True)),
    )
    before = (envelopes(engine, w.tip), audience(engine, w.tip))
    with pytest.raises(Conflict, match="cannot open"):
        apply_as(engine, principal(w.sue, Role.SUPERVISOR))
    assert (envelopes(engine, w.tip), audience(engine, w.tip)) == before
    assert _pending_count(engine) == 1


def test_reveal_gives_the_requester_the_identity_key_and_nobody_else(
    engine: Engine, w: World
) -> None:
    ana = w.border.reviewer_us
    assert not can_open(engine, w.tip, IDENTITY, ana.identity)
    in_tx(engine, lambda s: reveal_identity(s, tip_id=w.tip, approver=w.sam, requester_id=ana.id))
    assert can_open(engine, w.tip, IDENTITY, ana.identity)
    for other in (w.border.reviewer_mx, w.border.oversight, w.rita):
        assert not can_open(engine, w.tip, IDENTITY, other.identity)
    # The grant survives later rewrites, and ends when she leaves the audience.
    _add(engine, w, w.rita)
    apply_as(engine, w.sam)
    assert can_open(engine, w.tip, IDENTITY, ana.identity)
    assert not can_open(engine, w.tip, IDENTITY, w.rita.identity)
    _remove(engine, ana)
    apply_as(engine, w.sam)
    assert not can_open(engine, w.tip, IDENTITY, ana.identity)
    assert in_tx(engine, lambda s: s.scalar(select(func.count()).select_from(IdentityGrant))) == 0


@pytest.mark.parametrize(
    ("who", "tip", "requester", "error"),
    [
        ("ana", "tip", "rita", Conflict),  # approver is not a custodian
        ("sam", "tip", "rita", Conflict),  # requester outside the audience
        ("sam", "tip", "sam", Conflict),  # already holds it
        ("sam", "plain", "ana", Conflict),  # no contact details
        ("luis", "tip", "ana", NotFound),  # approver outside the audience
    ],
)
def test_reveal_refusals(
    engine: Engine, settings: Settings, w: World, who: str, tip: str, requester: str, error: type
) -> None:
    people = {
        "ana": w.border.reviewer_us,
        "sam": w.border.supervisor_us,
        "luis": w.border.reviewer_mx,
        "rita": w.rita,
    }
    tips = {"tip": w.tip, "plain": file_tip(engine, settings)}
    approver = principal(people[who], Role.SUPERVISOR)
    tip_id, requester_id = tips[tip], people[requester].id
    before = envelopes(engine, tip_id)
    reveal = partial(reveal_identity, tip_id=tip_id, approver=approver, requester_id=requester_id)
    with pytest.raises(error):
        in_tx(engine, reveal)
    assert envelopes(engine, tip_id) == before


def test_reroute_moves_the_tip_and_its_keys(engine: Engine, w: World) -> None:
    _add(engine, w, w.rita)  # pending on the old audience: superseded by the reroute
    payloads_before = blob_payloads(engine, w.tip)
    size = in_tx(engine, lambda s: reroute_tip(s, tip_id=w.tip, compartment="mx", approver=w.sam))
    assert size == 1
    luis = w.border.reviewer_mx
    assert readable(engine, luis.id, w.tip)
    assert can_open(engine, w.tip, STAFF, luis.identity)
    for gone in (w.border.reviewer_us, w.border.supervisor_us):
        assert not readable(engine, gone.id, w.tip)
        assert not can_open(engine, w.tip, STAFF, gone.identity)
        assert not can_open(engine, w.tip, IDENTITY, gone.identity)
    assert not can_open(engine, w.tip, IDENTITY, luis.identity)  # mx has no supervisor
    assert can_open(engine, w.tip, IDENTITY, w.border.recovery_identity)
    tip = in_tx(engine, lambda s: s.get(Tip, w.tip).compartment_id)
    mx = in_tx(engine, lambda s: s.get(Tip, w.mx_tip).compartment_id)
    assert tip == mx
    assert blob_payloads(engine, w.tip) == payloads_before  # keys rotated, payloads untouched
    assert _pending_count(engine) == 0


def test_reroute_refusals_change_nothing(engine: Engine, settings: Settings, w: World) -> None:
    before = envelopes(engine, w.tip)
    add_conflict(engine, settings, w.border.reviewer_mx.id, "name", "Juan Ramírez")
    cases = [
        ("us", w.sam, Conflict),  # already there
        ("mx", w.sam, Conflict),  # everyone in mx is conflicted
        ("nowhere", w.sam, NotFound),
        ("oversight", principal(w.border.reviewer_mx, Role.SUPERVISOR), NotFound),  # no holder
    ]
    for compartment, approver, error in cases:
        with pytest.raises(error), session_scope(make_session_factory(engine)) as session:
            reroute_tip(session, tip_id=w.tip, compartment=compartment, approver=approver)
    assert envelopes(engine, w.tip) == before


def test_a_conflict_cancels_a_pending_grant(engine: Engine, settings: Settings, w: World) -> None:
    _add(engine, w, w.rita)
    add_conflict(engine, settings, w.rita.id, "badge", "4471")
    assert _pending_count(engine) == 0
    _add(engine, w, w.sue)
    apply_as(engine, w.sam)
    assert not readable(engine, w.rita.id, w.tip)
    assert not can_open(engine, w.tip, STAFF, w.rita.identity)


def test_every_key_operation_is_in_the_tip_history(engine: Engine, w: World) -> None:
    ana = w.border.reviewer_us
    _add(engine, w, w.rita)
    apply_as(engine, w.sam)
    in_tx(engine, lambda s: reveal_identity(s, tip_id=w.tip, approver=w.sam, requester_id=ana.id))
    in_tx(engine, lambda s: reroute_tip(s, tip_id=w.tip, compartment="mx", approver=w.sam))
    actions = [e.action for e in in_tx(engine, lambda s: history(s, w.tip))]
    tail = ["tip.access_rewritten", "tip.identity_revealed", "tip.rerouted", "tip.keys_rotated"]
    assert actions[-4:] == tail


def test_backlog_counts_what_only_the_recovery_key_can_settle(
    engine: Engine, settings: Settings, w: World
) -> None:
    assert in_tx(engine, access_backlog) == Backlog(0, 0, 0)
    _add(engine, w, w.rita)  # us: sam can apply
    # mx tip: nobody left to read it
    add_conflict(engine, settings, w.border.reviewer_mx.id, "name", "Juan Ramírez")
    assert in_tx(engine, access_backlog) == Backlog(
        tips_waiting=2, without_supervisor=1, without_reader=1
    )
