"""/openapi.json is the contract: schemathesis generates requests for every operation from it and
checks each answer against it (no 5xx, a documented status and media type, a body that matches
the documented schema), on the real database, as a reporter and as staff of each role needed.

Fixed seed (derandomized) and a bounded number of examples per operation, so it runs in the
normal suite; the app runs in-process through schemathesis' ASGI client (with its lifespan).
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterator
from typing import Any, cast

import pyotp
import pytest
from hypothesis import HealthCheck, Phase, given, settings
from hypothesis import strategies as st
from schemathesis import GenerationMode, openapi
from schemathesis.checks import not_a_server_error
from schemathesis.core.result import Ok
from schemathesis.generation.case import Case
from schemathesis.python.asgi import ASGIClient, get_client, shutdown_lifespans
from schemathesis.schemas import APIOperation
from schemathesis.specs.openapi.checks import (
    content_type_conformance,
    response_schema_conformance,
    status_code_conformance,
)

from routes.app import create_app
from service.config import Settings
from service.staff.models import Role
from tests.factories import Border, StaffHandle, add_staff, tip_json

EXAMPLES = 10  # per operation and generation mode
CHECKS = [
    not_a_server_error,
    status_code_conformance,
    content_type_conformance,
    response_schema_conformance,
]


Operation = APIOperation[Any, Any, Any, Any]


@pytest.fixture
def api(settings: Settings, border: Border) -> Iterator[ASGIClient]:
    client = get_client(cast(Any, create_app(settings)))  # an ASGI app, typed otherwise
    with client:  # starts the app's lifespan, once, for the whole run
        yield client
    shutdown_lifespans()  # ends it (the engine is disposed before the database goes)


def _staff_token(api: ASGIClient, who: StaffHandle) -> str:
    code = pyotp.TOTP(who.totp_secret).now()  # each account signs in once: never a replay
    body = {"username": who.username, "password": who.password, "totp": code}
    response = api.post("/api/v1/staff/session", json=body)
    assert response.status_code == 201, response.text
    return str(response.json()["token"])


def _bearer(token: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {token}"}


class Callers:
    """Who calls which operation: the reporter's routes with a receipt session, audit entries as
    an auditor, sign-out and password change with a session of their own (the first sign-out
    ends it), everything else as a supervisor (a reader too)."""

    def __init__(self, api: ASGIClient, settings: Settings, border: Border) -> None:
        filed = api.post("/api/v1/tips", json=cast(Any, tip_json()))
        assert filed.status_code == 201, filed.text
        login = api.post("/api/v1/reporter/session", json=filed.json())
        assert login.status_code == 200, login.text
        self.reporter = _bearer(login.json()["token"])
        self.supervisor = _bearer(_staff_token(api, border.supervisor_us))
        self.own_session = _bearer(_staff_token(api, border.reviewer_mx))
        auditor = add_staff(cast(Any, api.app).state.engine, settings, "audrey", Role.AUDITOR, [])
        self.auditor = _bearer(_staff_token(api, auditor))
        queue = api.get("/api/v1/queue", headers=self.supervisor)
        assert queue.status_code == 200, queue.text
        self.tip_id = queue.json()["tips"][0]["id"]

    def headers(self, operation: Operation) -> dict[str, str]:
        path = operation.path
        if path.startswith("/api/v1/reporter/"):
            return self.reporter
        if path in ("/api/v1/audit/entries", "/api/v1/audit/cases", "/api/v1/audit/cases.csv"):
            return self.auditor
        if path in ("/api/v1/staff/session", "/api/v1/staff/password"):
            return self.own_session
        return self.supervisor


def _operations(api: ASGIClient) -> list[Operation]:
    schema = openapi.from_asgi("/openapi.json", api.app)
    results = list(schema.get_all_operations())
    assert all(isinstance(result, Ok) for result in results), results  # the schema is valid
    return [cast(Ok[Operation], result).ok() for result in results]


def _fuzz(api: ASGIClient, operation: Operation, callers: Callers, sent: Counter[str]) -> None:
    modes = [operation.as_strategy(mode) for mode in GenerationMode]

    @settings(
        max_examples=EXAMPLES * len(modes),
        derandomize=True,  # the fixed seed
        deadline=None,
        database=None,
        phases=[Phase.explicit, Phase.generate],
        suppress_health_check=list(HealthCheck),
    )
    @given(case=st.one_of(modes), real_tip=st.booleans())
    def run(case: Case[Operation], real_tip: bool) -> None:
        if real_tip and "tip_id" in (case.path_parameters or {}):
            case.path_parameters = {**(case.path_parameters or {}), "tip_id": callers.tip_id}
        sent[operation.label] += 1
        case.call_and_validate(session=api, headers=callers.headers(operation), checks=CHECKS)

    run()


def test_every_answer_matches_the_openapi_contract(
    api: ASGIClient, settings: Settings, border: Border
) -> None:
    callers = Callers(api, settings, border)
    operations = _operations(api)
    assert len(operations) >= 40
    sent: Counter[str] = Counter()
    for operation in operations:
        _fuzz(api, operation, callers, sent)
    assert set(sent) == {operation.label for operation in operations}
    # Operations without parameters have only a case or two to try; the others have them all.
    assert sum(sent.values()) >= len(operations) * EXAMPLES
