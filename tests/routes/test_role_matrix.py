"""Every route of the app either is on the short public list or declares its roles, and each
declared route refuses everyone else: anonymous and reporter callers get 401 (pages: a redirect to
the staff sign-in), a signed-in member of any other role 403. Staff page POSTs check CSRF.

Routes added later are covered automatically; a route that declares no roles fails
`test_every_route_is_public_or_declares_its_roles` until it does (or is added to PUBLIC here,
with a reason).
"""

from __future__ import annotations

import re
import uuid
from collections.abc import Iterator
from dataclasses import dataclass

from fastapi import FastAPI
from fastapi.dependencies.models import Dependant
from fastapi.routing import APIRoute, iter_route_contexts
from fastapi.testclient import TestClient
from sqlalchemy import Engine

from routes.app import create_app
from routes.staff_auth import check_staff_csrf
from service.config import Settings
from service.staff.models import Role
from tests.factories import Border, add_staff, tip_json
from tests.staff_util import api_login

# Anonymous by design: the reporter's side, probes, the schema, staff sign-in and enrolment.
PUBLIC: frozenset[tuple[str, str]] = frozenset(
    {
        ("GET", "/openapi.json"),
        ("GET", "/healthz"),
        ("GET", "/readyz"),
        ("GET", "/api/v1/intake/form"),
        ("POST", "/api/v1/tips"),
        # Reporter routes: a receipt session, never a staff one.
        ("POST", "/api/v1/reporter/session"),
        ("GET", "/api/v1/reporter/tip"),
        ("POST", "/api/v1/reporter/messages"),
        ("POST", "/api/v1/reporter/attachments"),
        ("POST", "/api/v1/reporter/contest"),
        ("GET", "/"),
        ("GET", "/report"),
        ("POST", "/report"),
        ("GET", "/status"),
        ("POST", "/status"),
        ("POST", "/status/logout"),
        ("GET", "/status/tip"),
        ("POST", "/status/messages"),
        ("POST", "/status/contest"),
        ("POST", "/api/v1/staff/session"),
        ("GET", "/staff/login"),
        ("POST", "/staff/login"),
        # Enrolment: authorised by the one-time link; its forms carry a CSRF token bound to it.
        ("GET", "/staff/enrol"),
        ("POST", "/staff/enrol"),
    }
)
# Staff page POSTs that read a body with files and check CSRF in the handler
# (routes.staff_auth.verify_staff_csrf) instead of through check_staff_csrf.
CSRF_IN_HANDLER: frozenset[tuple[str, str]] = frozenset()
_PARAM = re.compile(r"\{[^}]+\}")


@dataclass(frozen=True)
class Endpoint:
    method: str
    path: str
    roles: frozenset[Role] | None  # None: declares none
    csrf_dependency: bool

    @property
    def is_page(self) -> bool:
        return not self.path.startswith("/api/")

    def url(self) -> str:
        return _PARAM.sub(lambda _: str(uuid.uuid4()), self.path)


def _calls(dependant: Dependant) -> Iterator[object]:
    for sub in dependant.dependencies:
        yield sub.call
        yield from _calls(sub)


def endpoints(app: FastAPI) -> list[Endpoint]:
    found: list[Endpoint] = []
    for context in iter_route_contexts(app.routes):
        route = context.original_route
        path = str(context.path)
        methods = getattr(context, "methods", None) or set()
        if not isinstance(route, APIRoute):
            found.extend(Endpoint(m, path, None, False) for m in methods if m != "HEAD")
            continue
        calls = list(_calls(context.dependant))
        declared = [frozenset(c.roles) for c in calls if hasattr(c, "roles")]
        roles = frozenset.intersection(*declared) if declared else None
        csrf = check_staff_csrf in calls
        found.extend(Endpoint(m, path, roles, csrf) for m in sorted(methods))
    return found


ALL = endpoints(create_app(Settings(database_url="sqlite://")))
PROTECTED = [e for e in ALL if (e.method, e.path) not in PUBLIC]


def test_every_route_is_public_or_declares_its_roles() -> None:
    undeclared = [f"{e.method} {e.path}" for e in PROTECTED if not e.roles]
    assert undeclared == [], "add require_roles(...) to these routes (or list them in PUBLIC)"
    assert any(e.path == "/api/v1/staff/me" for e in PROTECTED)


def test_the_public_list_has_no_stale_entries() -> None:
    assert PUBLIC <= {(e.method, e.path) for e in ALL}


def test_every_staff_page_post_checks_csrf() -> None:
    missing = [
        f"{e.method} {e.path}"
        for e in PROTECTED
        if e.is_page
        and e.method != "GET"
        and not e.csrf_dependency
        and (e.method, e.path) not in CSRF_IN_HANDLER
    ]
    assert missing == [], "staff page forms must use check_staff_csrf (StaffForm)"


def _reporter_token(web: TestClient) -> str:
    receipt = web.post("/api/v1/tips", json=tip_json()).json()["receipt"]
    response = web.post("/api/v1/reporter/session", json={"receipt": receipt})
    assert response.status_code == 200, response.text
    token: str = response.json()["token"]
    return token


def _send(web: TestClient, endpoint: Endpoint, headers: dict[str, str]) -> tuple[int, str]:
    kwargs: dict[str, object] = {"headers": headers, "follow_redirects": False}
    if endpoint.method in ("POST", "PUT", "PATCH"):
        kwargs["data" if endpoint.is_page else "json"] = {"x": "1"} if endpoint.is_page else {}
    response = web.request(endpoint.method, endpoint.url(), **kwargs)  # type: ignore[arg-type]
    return response.status_code, response.headers.get("location", "")


def _refused_as_anonymous(endpoint: Endpoint, status: int, location: str) -> bool:
    if endpoint.is_page:
        return status == 303 and location.startswith("/staff/login")
    return status == 401


def test_each_declared_route_refuses_anyone_outside_its_roles(
    web: TestClient, border: Border, engine: Engine, settings: Settings
) -> None:
    people = {
        Role.REVIEWER: border.reviewer_us,
        Role.SUPERVISOR: border.supervisor_us,
        Role.ADMIN: add_staff(engine, settings, "adam", Role.ADMIN, []),
        Role.AUDITOR: add_staff(engine, settings, "audrey", Role.AUDITOR, []),
    }
    headers = {role: api_login(web, who) for role, who in people.items()}
    reporter = {"Authorization": f"Bearer {_reporter_token(web)}"}
    failures = []
    for endpoint in PROTECTED:
        name = f"{endpoint.method} {endpoint.path}"
        for who, sent in (("anonymous", {}), ("reporter", reporter)):
            status, location = _send(web, endpoint, sent)
            if not _refused_as_anonymous(endpoint, status, location):
                failures.append(f"{name} as {who}: {status} {location}")
        for role in set(Role) - (endpoint.roles or frozenset()):
            status, _ = _send(web, endpoint, headers[role])
            if status != 403:
                failures.append(f"{name} as {role.value}: {status}, expected 403")
        if endpoint.is_page and endpoint.method == "POST" and endpoint.roles:
            allowed = sorted(endpoint.roles)[0]
            status, _ = _send(web, endpoint, headers[allowed])
            if status != 403:
                failures.append(f"{name} without a CSRF token: {status}, expected 403")
    assert failures == []
