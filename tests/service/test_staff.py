"""Staff, compartments and agencies through the service layer."""

from __future__ import annotations

import pytest
from sqlalchemy import Engine, select

from crypto.keys import KdfParams, SealedKey
from service.agencies.service import add_agency
from service.compartments.models import Membership
from service.compartments.service import add_compartment, add_member
from service.config import Settings
from service.db import make_session_factory, session_scope
from service.errors import Conflict, InvalidInput, NotFound
from service.instance.setup import kdf_params
from service.staff.models import Role
from service.staff.service import create_staff, parse_role, unseal_secrets
from tests.factories import init_instance

PASSWORD = "a long enough password"


@pytest.fixture
def ready(engine: Engine, settings: Settings) -> Engine:
    init_instance(engine, settings)
    return engine


def test_staff_joins_compartments_and_stores_params_with_the_record(
    ready: Engine, settings: Settings
) -> None:
    with session_scope(make_session_factory(ready)) as session:
        add_compartment(session, "us-border-integrity")
        new = create_staff(
            session,
            username="ana",
            role=Role.REVIEWER,
            password=PASSWORD,
            kdf=kdf_params(settings),
            compartments=["us-border-integrity", "oversight"],
        )
        assert new.totp_uri.startswith("otpauth://totp/Probity:ana?")
    with make_session_factory(ready)() as session:
        members = session.scalars(select(Membership).where(Membership.staff_id == new.user.id))
        assert len(list(members)) == 2
    sealed = new.user.sealed_secrets
    assert sealed is not None
    record = SealedKey.deserialize(sealed)
    assert record.params == KdfParams(time_cost=1, memory_kib=64, lanes=1)
    assert unseal_secrets(new.user, PASSWORD).totp_secret == new.totp_secret
    assert PASSWORD.encode() not in sealed
    assert new.totp_secret.encode() not in sealed


@pytest.mark.parametrize(
    ("username", "password", "error"),
    [
        ("admin", PASSWORD, Conflict),
        ("Ana Reviewer", PASSWORD, InvalidInput),
        ("x", PASSWORD, InvalidInput),
        ("ana", "short", InvalidInput),
    ],
)
def test_bad_staff_input_is_refused_and_stores_nothing(
    ready: Engine, settings: Settings, username: str, password: str, error: type[Exception]
) -> None:
    with pytest.raises(error), session_scope(make_session_factory(ready)) as session:
        create_staff(
            session,
            username=username,
            role=Role.REVIEWER,
            password=password,
            kdf=kdf_params(settings),
        )
    with make_session_factory(ready)() as session:
        from service.staff.models import StaffUser

        assert list(session.scalars(select(StaffUser.username))) == ["admin"]


def test_unknown_role_lists_the_valid_ones() -> None:
    with pytest.raises(InvalidInput, match="reviewer, supervisor, admin, auditor"):
        parse_role("sheriff")


def test_admins_and_auditors_never_join_an_audience(ready: Engine, settings: Settings) -> None:
    with session_scope(make_session_factory(ready)) as session:
        auditor = create_staff(
            session,
            username="aud",
            role=Role.AUDITOR,
            password=PASSWORD,
            kdf=kdf_params(settings),
        ).user
        with pytest.raises(InvalidInput, match="cannot be a compartment member"):
            add_member(session, compartment="oversight", staff=auditor)


def test_agencies_route_to_existing_compartments(ready: Engine) -> None:
    factory = make_session_factory(ready)
    with session_scope(factory) as session:
        agency = add_agency(
            session,
            slug="el-paso-pd",
            name_en="El Paso Police Department",
            name_es="Departamento de Policía de El Paso",
            compartment="oversight",
            country="us",
        )
        assert agency.country == "US"
    cases = [
        ({"slug": "el-paso-pd", "compartment": "oversight"}, Conflict),
        ({"slug": "other", "compartment": "oversight"}, InvalidInput),
        ({"slug": "x-y", "compartment": "nowhere"}, NotFound),
        ({"slug": "Bad Slug", "compartment": "oversight"}, InvalidInput),
    ]
    for kwargs, error in cases:
        with pytest.raises(error), session_scope(factory) as session:
            add_agency(session, name_en="N", name_es="N", **kwargs)


def test_duplicate_compartment_is_a_conflict(ready: Engine) -> None:
    with pytest.raises(Conflict), session_scope(make_session_factory(ready)) as session:
        add_compartment(session, "oversight")
