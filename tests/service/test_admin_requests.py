"""Nothing an admin does alone changes who reads tips: the membership bootstrap happens once per
instance, and routing, new agencies and supervisor removals are requests a supervisor decides
(never the requester, never the supervisor removed)."""

from __future__ import annotations

import uuid
from typing import Any

import pytest
from sqlalchemy import Engine, select
from sqlalchemy.orm import Session
from typer.testing import CliRunner

from service.access.changes import decidable_changes, decide_change, file_request
from service.access.models import AdminRequest, RequestKind
from service.access.service import remove_member_with_access
from service.agencies.models import Agency
from service.agencies.service import route_agency
from service.cli import app
from service.compartments.bootstrap import bootstrap_open
from service.compartments.models import Compartment, Membership
from service.compartments.service import add_compartment
from service.config import Settings
from service.db import make_engine
from service.errors import Conflict, NotPermitted
from service.instance.models import BOOTSTRAP_CLOSED, InstanceKey
from service.staff.admin import deactivate_staff
from service.staff.models import Role, StaffUser
from tests.factories import StaffHandle, add_staff, in_tx, init_instance, principal
from tests.service.access_util import World, request_membership, staff_row
from tests.service.test_cli import add_reviewer

runner = CliRunner()


def _request(engine: Engine, who: StaffHandle, compartment: str) -> None:
    request_membership(engine, who, compartment)


def _approved(engine: Engine, who: StaffHandle) -> list[bool]:
    query = select(Membership.approved_at).where(Membership.staff_id == who.id)
    return [row is not None for row in in_tx(engine, lambda s: list(s.scalars(query)))]


def test_the_bootstrap_closes_with_the_first_supervisor_and_never_reopens(
    engine: Engine, settings: Settings
) -> None:
    init_instance(engine, settings)
    early = add_staff(engine, settings, "early", Role.REVIEWER, [])
    _request(engine, early, "oversight")  # no supervisor ever: approved at once
    assert _approved(engine, early) == [True]
    first = add_staff(engine, settings, "first", Role.SUPERVISOR, [])
    _request(engine, first, "oversight")
    assert _approved(engine, first) == [True]
    assert in_tx(engine, lambda s: s.get(InstanceKey, BOOTSTRAP_CLOSED)) is not None

    def remove_and_deactivate(session: object) -> None:
        remove_member_with_access(
            session,  # type: ignore[arg-type]
            compartment="oversight",
            staff=staff_row(session, first),
            actor="system",
        )
        staff_row(session, first).active = False

    in_tx(engine, remove_and_deactivate)
    later = add_staff(engine, settings, "later", Role.REVIEWER, [])
    _request(engine, later, "oversight")  # no supervisor left anywhere: still not at once
    in_tx(engine, lambda s: add_compartment(s, "evil"))
    _request(engine, later, "evil")
    assert _approved(engine, later) == [False, False]


def test_an_instance_that_approved_a_supervisor_counts_as_closed_without_the_row(
    engine: Engine, w: World
) -> None:
    def forget(session: object) -> bool:
        session.delete(session.get(InstanceKey, BOOTSTRAP_CLOSED))  # type: ignore[attr-defined]
        session.flush()  # type: ignore[attr-defined]
        return bootstrap_open(session)  # type: ignore[arg-type]

    assert in_tx(engine, forget) is False


def test_a_new_compartments_first_member_waits_and_oversight_decides(
    engine: Engine, settings: Settings, w: World
) -> None:
    in_tx(engine, lambda s: add_compartment(s, "evil"))
    _request(engine, w.rita, "evil")  # neither evil nor oversight has a supervisor
    assert _approved(engine, w.rita) == [False]
    otto = add_staff(engine, settings, "otto", Role.SUPERVISOR, ["oversight"])
    admin = add_staff(engine, settings, "adm", Role.ADMIN, [])
    in_tx(engine, lambda s: route_agency(s, admin.id, slug="el-paso-pd", compartment="evil"))
    [change] = in_tx(engine, lambda s: decidable_changes(s, principal(otto, Role.SUPERVISOR)))
    assert (change.kind, change.compartment, change.previous) == ("agency_route", "evil", "us")
    assert in_tx(engine, lambda s: decidable_changes(s, w.sam)) == []  # us's supervisor


def test_nobody_decides_a_request_they_made_or_that_removes_them(
    engine: Engine, settings: Settings, w: World
) -> None:
    def ids(session: Session) -> tuple[uuid.UUID, uuid.UUID, uuid.UUID]:
        agency = session.scalars(select(Agency).where(Agency.slug == "tijuana-municipal")).one()
        us = session.scalars(select(Compartment).where(Compartment.name == "us")).one()
        return agency.id, us.id, agency.compartment_id

    agency_id, us_id, mx_id = in_tx(engine, ids)

    def file(session: Session, kind: RequestKind, **fields: Any) -> uuid.UUID:
        return file_request(session, kind=kind, compartment_id=us_id, **fields).id

    route = {"previous": mx_id, "agency_id": agency_id, "actor": w.sam.staff_id}
    own = in_tx(engine, lambda s: file(s, RequestKind.AGENCY_ROUTE, **route))
    with pytest.raises(NotPermitted):
        in_tx(engine, lambda s: decide_change(s, w.sam, request_id=own, approve=True))
    with pytest.raises(NotPermitted):  # a reviewer
        in_tx(engine, lambda s: decide_change(s, w.ana, request_id=own, approve=True))
    removal = in_tx(
        engine,
        lambda s: file(s, RequestKind.SUPERVISOR_REMOVAL, staff_id=w.sam.staff_id, actor="system"),
    )
    with pytest.raises(NotPermitted):
        in_tx(engine, lambda s: decide_change(s, w.sam, request_id=removal, approve=True))
    statuses = in_tx(engine, lambda s: list(s.scalars(select(AdminRequest.status))))
    assert statuses == ["pending", "pending"]


def test_oversight_keeps_one_compartment_and_its_last_supervisor(
    engine: Engine, settings: Settings, w: World
) -> None:
    with pytest.raises(Conflict):
        in_tx(engine, lambda s: add_compartment(s, "evil", oversight=True))
    otto = add_staff(engine, settings, "otto", Role.SUPERVISOR, ["oversight"])
    admin = add_staff(engine, settings, "adm", Role.ADMIN, [])
    with pytest.raises(Conflict):
        in_tx(engine, lambda s: deactivate_staff(s, admin.id, username="otto"))
    assert in_tx(engine, lambda s: staff_row(s, otto).active) is True


def test_the_cli_files_the_same_requests_once_a_supervisor_exists(
    cheap_kdf_env: Settings,
) -> None:
    assert runner.invoke(app, ["demo"]).exit_code == 0
    assert runner.invoke(app, ["compartment", "add", "evil"]).exit_code == 0
    names = ["--name-en", "Evil PD", "--name-es", "PD Malvada"]
    added = runner.invoke(app, ["agency", "add", "evil-pd", *names, "--compartment", "evil"])
    assert added.exit_code == 0, added.output
    assert "waiting for approval" in added.output
    puppet = add_reviewer("puppet", "evil")
    assert puppet.exit_code == 0, puppet.output
    engine = make_engine(cheap_kdf_env.effective_database_url)
    try:
        with engine.connect() as connection:
            active = connection.scalar(select(Agency.active).where(Agency.slug == "evil-pd"))
            approved = connection.scalar(
                select(Membership.approved_at)
                .join(StaffUser, StaffUser.id == Membership.staff_id)
                .where(StaffUser.username == "puppet")
            )
            kinds = list(connection.scalars(select(AdminRequest.kind)))
    finally:
        engine.dispose()
    assert (active, approved, kinds) == (False, None, ["agency_add"])
