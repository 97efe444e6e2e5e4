"""Four-eyes on compartment memberships: an admin's request gives no tip and no key until a
supervisor of that compartment (or of oversight, when it has none) approves; never oneself.
Conflicts over HTTP: only oneself or a supervisor of one's compartment registers them."""

from __future__ import annotations

from typing import Any

import pytest
from sqlalchemy import Engine, select
from sqlalchemy.orm import Session

from service.access.memberships import (
    check_conflict_registrar,
    decide_membership,
    pending_memberships,
)
from service.access.models import PendingAccessChange
from service.audit.canonical import decode_entry
from service.audit.models import AuditEntry
from service.compartments.models import Membership
from service.compartments.service import add_compartment
from service.config import Settings
from service.errors import Conflict, NotFound, NotPermitted
from service.staff.models import Role, StaffUser
from tests.factories import StaffHandle, add_staff, file_tip, in_tx, init_instance, principal
from tests.service.access_util import (
    World,
    apply_as,
    audience,
    decide_as,
    readable,
    request_membership,
    staff_row,
)


def _request(engine: Engine, who: StaffHandle, compartment: str = "us") -> int:
    return request_membership(engine, who, compartment)


def _decide(engine: Engine, by: StaffHandle, who: StaffHandle, approve: bool, c: str = "us") -> int:
    decider = principal(by, Role.SUPERVISOR)
    return in_tx(
        engine,
        lambda s: decide_membership(s, decider, compartment=c, staff_id=who.id, approve=approve),
    )


def _audit(engine: Engine, action: str) -> list[dict[str, object]]:
    def read(session: object) -> list[dict[str, object]]:
        rows = session.scalars(select(AuditEntry.canonical).order_by(AuditEntry.index))  # type: ignore[attr-defined]
        entries = [decode_entry(bytes(r)) for r in rows]
        return [{**e.details, **e.objects} for e in entries if e.action == action]

    return in_tx(engine, read)


def _pending_adds(engine: Engine, who: StaffHandle) -> int:
    query = select(PendingAccessChange).where(PendingAccessChange.staff_id == who.id)
    return len(in_tx(engine, lambda s: list(s.scalars(query))))


def test_an_admin_requested_member_gets_no_tip_and_no_key_until_approved(
    engine: Engine, settings: Settings, w: World
) -> None:
    assert _request(engine, w.rita) == 0
    assert _pending_adds(engine, w.rita) == 0
    fresh = file_tip(engine, settings)  # routed to us at intake
    assert w.rita.id not in audience(engine, fresh)
    assert apply_as(engine, w.sam) == 0
    assert not readable(engine, w.rita.id, w.tip)
    assert _audit(engine, "compartment.member_requested")[-1]["role"] == "reviewer"
    assert _audit(engine, "compartment.member_approved") == []


def test_a_supervisor_of_the_compartment_approves_and_the_keys_follow(
    engine: Engine, settings: Settings, w: World
) -> None:
    _request(engine, w.rita)
    listed = in_tx(engine, lambda s: pending_memberships(s, w.sam))
    assert [(p.username, p.role, p.compartment) for p in listed] == [("rita", "reviewer", "us")]
    assert _decide(engine, w.border.supervisor_us, w.rita, True) == 1
    assert apply_as(engine, w.sam) == 1
    assert readable(engine, w.rita.id, w.tip)
    assert w.rita.id in audience(engine, file_tip(engine, settings))
    approved = _audit(engine, "compartment.member_approved")[-1]
    assert approved["tips_queued"] == 1
    assert "bootstrap" not in approved
    row = in_tx(engine, lambda s: s.get(Membership, (listed[0].compartment_id, w.rita.id)))
    assert row.approved_by == w.border.supervisor_us.id


def test_nobody_approves_their_own_membership(engine: Engine, w: World) -> None:
    _request(engine, w.sue)  # a supervisor asking to join us
    with pytest.raises(NotPermitted):
        _decide(engine, w.sue, w.sue, True)
    assert in_tx(engine, lambda s: pending_memberships(s, principal(w.sue, Role.SUPERVISOR))) == []


def test_outsiders_cannot_decide_and_a_decision_is_final(engine: Engine, w: World) -> None:
    _request(engine, w.rita)
    with pytest.raises(NotPermitted):  # a reviewer
        decide_as(engine, w.ana, w.rita)
    luis_sup = w.border.reviewer_mx  # mx: not a member of us
    with pytest.raises(NotFound):
        _decide(engine, luis_sup, w.rita, True)
    with pytest.raises(NotFound):
        _decide(engine, w.border.supervisor_us, w.rita, True, c="no-such")
    _decide(engine, w.border.supervisor_us, w.rita, True)
    with pytest.raises(Conflict):
        _decide(engine, w.border.supervisor_us, w.rita, False)


def test_rejecting_deletes_the_request_and_is_audited(engine: Engine, w: World) -> None:
    _request(engine, w.rita)
    assert _decide(engine, w.border.supervisor_us, w.rita, False) == 0
    rows = in_tx(engine, lambda s: list(s.scalars(select(Membership.staff_id))))
    assert w.rita.id not in rows
    assert _audit(engine, "compartment.member_rejected")[-1]["staff"] == str(w.rita.id)


def test_oversight_decides_for_a_compartment_without_a_supervisor(
    engine: Engine, settings: Settings, w: World
) -> None:
    otto = add_staff(engine, settings, "otto", Role.SUPERVISOR, ["oversight"])
    in_tx(engine, lambda s: add_compartment(s, "puppets"))
    _request(engine, w.rita, "puppets")
    # us has its own supervisor: oversight does not decide there.
    _request(engine, w.sue, "us")
    with pytest.raises(NotFound):
        _decide(engine, otto, w.sue, True)
    listed = in_tx(engine, lambda s: pending_memberships(s, principal(otto, Role.SUPERVISOR)))
    assert [(p.username, p.compartment) for p in listed] == [("rita", "puppets")]
    with pytest.raises(NotFound):  # sam is no member of puppets, nor of oversight
        _decide(engine, w.border.supervisor_us, w.rita, True, c="puppets")
    _decide(engine, otto, w.rita, True, c="puppets")


def test_a_fresh_install_approves_at_once_and_says_so(engine: Engine, settings: Settings) -> None:
    init_instance(engine, settings)
    first = add_staff(engine, settings, "first", Role.SUPERVISOR, [])
    _request(engine, first, "oversight")
    members = in_tx(engine, lambda s: list(s.scalars(select(Membership))))
    assert [m.approved_at is not None for m in members] == [True]
    assert _audit(engine, "compartment.member_approved")[-1]["bootstrap"] is True
    second = add_staff(engine, settings, "second", Role.REVIEWER, [])
    _request(engine, second, "oversight")  # now oversight has an approved supervisor
    pending = in_tx(
        engine, lambda s: s.scalar(select(Membership).where(Membership.staff_id == second.id))
    )
    assert pending.approved_at is None


def test_conflicts_over_http_are_for_oneself_or_a_supervisor_of_ones_compartment(
    engine: Engine, settings: Settings, w: World
) -> None:
    ana, sam, luis = w.border.reviewer_us, w.border.supervisor_us, w.border.reviewer_mx
    admin = add_staff(engine, settings, "adm", Role.ADMIN, [])

    def check(by: StaffHandle, role: Role, target: StaffHandle) -> None:
        def registrar(session: Session) -> None:
            staff = staff_row(session, target)
            check_conflict_registrar(session, registrar_id=by.id, role=role, staff=staff)

        in_tx(engine, registrar)

    check(ana, Role.REVIEWER, ana)
    check(sam, Role.SUPERVISOR, ana)
    for by, role, target in [
        (admin, Role.ADMIN, ana),
        (ana, Role.REVIEWER, sam),
        (sam, Role.SUPERVISOR, luis),  # mx: not sam's compartment
    ]:
        with pytest.raises(NotPermitted):
            check(by, role, target)
    _request(engine, w.sue)  # a pending supervisor is nobody's supervisor yet
    with pytest.raises(NotPermitted):
        check(w.sue, Role.SUPERVISOR, ana)


def test_deactivating_every_supervisor_does_not_unlock_the_bootstrap(
    engine: Engine, settings: Settings, w: World
) -> None:
    def deactivate_supervisors(session: Any) -> None:
        for row in session.scalars(select(StaffUser).where(StaffUser.role == Role.SUPERVISOR)):
            row.active = False

    in_tx(engine, deactivate_supervisors)
    _request(engine, w.rita)
    member = in_tx(
        engine, lambda s: s.scalar(select(Membership).where(Membership.staff_id == w.rita.id))
    )
    assert member.approved_at is None
    assert _audit(engine, "compartment.member_approved") == []
