"""Insider and stranger attacks on issue 10's new paths (security review): each test drives one
sequence through the real API and pages and shows it refused or harmless."""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from dataclasses import dataclass

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import Engine

from routes.app import create_app
from service.config import Settings
from service.staff.models import Role
from tests.factories import StaffHandle, add_staff
from tests.service.access_util import World, audience, can_open, file_tip, world
from tests.staff_util import api_login


@dataclass(frozen=True)
class Cast:
    w: World
    otto: StaffHandle  # oversight supervisor
    sid: StaffHandle  # second us supervisor


@pytest.fixture
def cast(engine: Engine, settings: Settings) -> Cast:
    w = world(engine, settings)
    return Cast(
        w=w,
        otto=add_staff(engine, settings, "otto", Role.SUPERVISOR, ["oversight"]),
        sid=add_staff(engine, settings, "sid", Role.SUPERVISOR, ["us"]),
    )


@pytest.fixture
def client(settings: Settings, cast: Cast) -> Iterator[TestClient]:
    with TestClient(create_app(settings)) as test_client:
        yield test_client


def _variant_tip(engine: Engine, settings: Settings, unit: str) -> uuid.UUID:
    return file_tip(engine, settings, subjects=[{"rank": "Sgt", "unit": unit}])


def test_an_approved_conflict_request_matches_spelling_variants(
    client: TestClient, engine: Engine, settings: Settings, cast: Cast
) -> None:
    """A conflict a second supervisor approved for a colleague must match like one the member
    registers: "Unit 3 Bridge" and later "Bridge Unit No. 03" are both out of ana's reach."""
    ana = cast.w.border.reviewer_us
    before = _variant_tip(engine, settings, "Unit 3 Bridge")
    assert ana.id in audience(engine, before)
    sam = api_login(client, cast.w.border.supervisor_us)
    body = {"username": "ana", "kind": "unit", "value": "Bridge Unit 3"}
    assert client.post("/api/v1/conflicts", json=body, headers=sam).status_code == 202
    otto = api_login(client, cast.otto)
    [item] = client.get("/api/v1/access/conflicts", headers=otto).json()["conflicts"]
    url = f"/api/v1/access/conflicts/{item['id']}/decision"
    assert client.post(url, json={"approve": True}, headers=otto).status_code == 200
    assert ana.id not in audience(engine, before)
    after = _variant_tip(engine, settings, "Bridge Unit No. 03")
    assert ana.id not in audience(engine, after)
    assert not can_open(engine, after, "staff", ana.identity)
