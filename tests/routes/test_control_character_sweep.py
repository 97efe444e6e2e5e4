"""Every route, every text input: a control character is refused with a 4xx, never a 500
(PostgreSQL's DataError on NUL), and nothing is written.

The routes are enumerated from the app (as in test_role_matrix), so a route added later is swept
too: JSON bodies are built from the OpenAPI schema (with a valid example where a schema alone
cannot make one), query parameters come from each route's declared parameters, and page forms
are read from the pages themselves, as a browser would, and sent back with one field poisoned.
"""

from __future__ import annotations

import hashlib
import re
import uuid
from collections.abc import Iterator
from typing import Any

from fastapi.routing import APIRoute, iter_route_contexts
from fastapi.testclient import TestClient
from sqlalchemy import Engine, select

from routes.app import create_app
from service.config import Settings
from service.models import Base
from service.staff.models import Role
from tests.factories import REFERRAL_RECIPIENT, Border, StaffHandle, add_staff, tip_json
from tests.routes.reporter_pages_util import Form, forms
from tests.routes.test_role_matrix import PUBLIC, endpoints
from tests.staff_util import api_login, page_login

POISON = "ab\x00cd"
# Sliding expiry and last-seen times change on any signed-in request; a refused form that shows
# the tip again is a read, and reads are audited. Every state change writes other tables too.
_VOLATILE = frozenset({"staff_sessions", "audit_pending", "audit_entries", "audit_nodes"})
_PARAM = re.compile(r"\{([^}]+)\}")
# Bodies a schema cannot describe well enough to get past the first check.
EXAMPLES: dict[tuple[str, str], dict[str, Any]] = {
    ("POST", "/api/v1/tips"): tip_json(),
    ("POST", "/api/v1/staff/session"): {"username": "sam", "password": "pw", "totp": "123456"},
}


def _fingerprint(engine: Engine) -> dict[str, str]:
    """A digest of every row of every table (the test database is small)."""
    digests: dict[str, str] = {}
    with engine.connect() as connection:
        for name, table in sorted(Base.metadata.tables.items()):
            if name in _VOLATILE:
                continue
            rows = connection.execute(select(table)).all()
            digests[name] = hashlib.sha256(repr(sorted(map(repr, rows))).encode()).hexdigest()
    return digests


# --- values from a JSON schema -------------------------------------------------------------


def _resolve(schema: dict[str, Any], root: dict[str, Any]) -> dict[str, Any]:
    while "$ref" in schema:
        node: Any = root
        for part in schema["$ref"].lstrip("#/").split("/"):
            node = node[part]
        schema = node
    return schema


def _example(schema: dict[str, Any], root: dict[str, Any]) -> Any:
    schema = _resolve(schema, root)
    for key in ("anyOf", "oneOf"):
        if key in schema:
            options = [s for s in schema[key] if _resolve(s, root).get("type") != "null"]
            return _example(options[0], root)
    if "enum" in schema:
        return schema["enum"][0]
    if "const" in schema:
        return schema["const"]
    kind = schema.get("type")
    if kind == "object":
        props = schema.get("properties", {})
        if not props:
            return {"abc": "abc"} if schema.get("additionalProperties") else {}
        return {name: _example(sub, root) for name, sub in props.items()}
    if kind == "array":
        return [_example(schema.get("items", {"type": "string"}), root)]
    if kind == "boolean":
        return True
    if kind in ("integer", "number"):
        return schema.get("minimum", 1)
    if schema.get("format") == "uuid":
        return str(uuid.uuid4())
    return "a" * max(3, schema.get("minLength", 0))


def _poisoned(value: Any, in_uuid: bool = False) -> Iterator[Any]:
    """Copies of `value` with one string leaf (or dict key) at a time carrying a NUL."""
    if isinstance(value, str):
        yield value + POISON
    elif isinstance(value, list):
        for i, item in enumerate(value):
            for bad in _poisoned(item):
                yield [*value[:i], bad, *value[i + 1 :]]
    elif isinstance(value, dict):
        for key, item in value.items():
            for bad in _poisoned(item):
                yield {**value, key: bad}
            if isinstance(key, str):
                yield {**{k: v for k, v in value.items() if k != key}, key + POISON: item}


# --- who calls what ------------------------------------------------------------------------


class Callers:
    def __init__(self, web: TestClient, border: Border, engine: Engine, settings: Any) -> None:
        self.web = web
        self.staff: dict[Role, StaffHandle] = {
            Role.SUPERVISOR: border.supervisor_us,
            Role.REVIEWER: border.reviewer_us,
            Role.ADMIN: add_staff(engine, settings, "adam", Role.ADMIN, []),
            Role.AUDITOR: add_staff(engine, settings, "audrey", Role.AUDITOR, []),
        }
        self.headers = {role: api_login(web, who) for role, who in self.staff.items()}
        receipt = web.post("/api/v1/tips", json=tip_json()).json()["receipt"]
        self.receipt = receipt
        token = web.post("/api/v1/reporter/session", json={"receipt": receipt}).json()["token"]
        self.reporter = {"Authorization": f"Bearer {token}"}
        queue = web.get("/api/v1/queue", headers=self.headers[Role.REVIEWER]).json()
        self.tip_id: str = queue["tips"][0]["id"]
        # Something pending, so the supervisor's decision form is on the approvals page.
        asked = web.post(
            f"/api/v1/tips/{self.tip_id}/approvals",
            json={
                "kind": "export",
                "reason": "for the prosecutor",
                "recipient": REFERRAL_RECIPIENT,
            },
            headers=self.headers[Role.REVIEWER],
        )
        assert asked.status_code == 202, asked.text

    def role_for(self, roles: frozenset[Role] | None) -> Role | None:
        return next((r for r in Role.__members__.values() if roles and r in roles), None)

    def api_headers(self, path: str, roles: frozenset[Role] | None) -> dict[str, str]:
        if path.startswith("/api/v1/reporter/"):
            return self.reporter
        role = self.role_for(roles)
        return self.headers[role] if role else {}

    def url(self, path: str, poison: str | None = None) -> str:
        def fill(match: re.Match[str]) -> str:
            if match.group(1) == poison:
                return "%00"
            return self.tip_id if match.group(1) == "tip_id" else str(uuid.uuid4())

        return _PARAM.sub(fill, path)


Send = tuple[str, str, str, dict[str, str], Any]  # what, method, url, headers, JSON body


def _check(failures: list[str], web: TestClient, engine: Engine, send: Send) -> None:
    what, method, url, headers, body = send
    before = _fingerprint(engine)
    if body is None:
        response = web.request(method, url, headers=headers, follow_redirects=False)
    else:
        response = web.request(method, url, headers=headers, json=body)
    changed = [k for k, v in _fingerprint(engine).items() if before[k] != v]
    if not 400 <= response.status_code < 500 or changed:
        failures.append(f"{method} {what}: {response.status_code} changed={changed}")


def _api_sends(callers: Callers, app: Any) -> Iterator[Send]:
    schema = app.openapi()
    roles = {(e.method, e.path): e.roles for e in endpoints(app)}
    for context in iter_route_contexts(app.routes):
        if not isinstance(context.original_route, APIRoute):
            continue
        path = str(context.path)
        for method in sorted(getattr(context, "methods", set())):
            # Pages are signed in by cookie in the form sweep; here only their URL is poisoned.
            api = path.startswith("/api/")
            headers = callers.api_headers(path, roles.get((method, path))) if api else {}
            for name in _PARAM.findall(path):
                yield f"{path} path {name}", method, callers.url(path, name), headers, None
            for param in context.dependant.query_params:
                url = callers.url(path) + f"?{param.alias}=%00"
                yield f"{path} query {param.alias}", method, url, headers, None
            operation = schema["paths"].get(path, {}).get(method.lower(), {})
            body = operation.get("requestBody", {}).get("content", {}).get("application/json")
            if body is None:
                continue
            example = EXAMPLES.get((method, path)) or _example(
                body["schema"], body["schema"] | schema
            )
            for bad in _poisoned(example):
                yield f"{path} body {bad!r:.80}", method, callers.url(path), headers, bad


def test_a_nul_in_any_api_field_parameter_or_path_is_refused_and_stores_nothing(
    web: TestClient, border: Border, engine: Engine, settings: Any
) -> None:
    callers = Callers(web, border, engine, settings)
    failures: list[str] = []
    sends = list(_api_sends(callers, web.app))
    for send in sends:
        _check(failures, web, engine, send)
    assert len(sends) > 50
    assert failures == []


# --- page forms ----------------------------------------------------------------------------

_TYPED = ("text", "hidden", "password", "search", "email", "tel", "url", "")
_ENROL_LINK = re.compile(r"(/staff/enrol\?token=[\w-]+)")


def _filled(form: Form) -> dict[str, Any]:
    """What a browser would send for the form as shown (ticked boxes, first choices)."""
    data: dict[str, Any] = {}
    for control in form.named():
        name, kind = control.attrs["name"], control.attrs.get("type", "")
        if control.tag == "button" or kind in ("submit", "file"):
            continue
        if kind in ("checkbox", "radio") and "checked" not in control.attrs:
            continue
        value = control.attrs.get("value", "") or ("abc" if control.tag != "input" else "")
        data.setdefault(name, value)
    return data


def _typed(form: Form) -> list[str]:
    names = [
        c.attrs["name"]
        for c in form.named()
        if c.tag in ("textarea", "select") or c.attrs.get("type", "") in _TYPED
    ]
    return list(dict.fromkeys(names))


def _page_paths(role: Role | None, tip_id: str) -> list[str]:
    found = []
    for e in endpoints(create_app(Settings(database_url="sqlite://"))):
        if e.method != "GET" or e.path.startswith("/api/") or "{" in e.path.replace("{tip_id}", ""):
            continue
        public = (e.method, e.path) in PUBLIC
        if (role is None and public) or (role is not None and e.roles and role in e.roles):
            found.append(e.path.replace("{tip_id}", tip_id))
    return found


def _sweep_forms(
    client: TestClient, engine: Engine, paths: list[str], failures: list[str]
) -> set[str]:
    reached: set[str] = set()
    for page in paths:
        response = client.get(page, follow_redirects=False)
        if response.status_code != 200:
            continue
        for form in forms(response.text):
            if form.method.lower() != "post":
                continue
            action = form.action.split("?")[0] or page.split("?")[0]
            reached.add(action)
            for name in _typed(form):
                data = {**_filled(form), name: _filled(form).get(name, "") + POISON}
                multipart = "multipart" in form.enctype
                before = _fingerprint(engine)
                sent = client.post(
                    form.action or page,
                    data=data,
                    files={"files": ("", b"", "application/octet-stream")} if multipart else None,
                    follow_redirects=False,
                )
                changed = [k for k, v in _fingerprint(engine).items() if before[k] != v]
                if not 400 <= sent.status_code < 500 or changed:
                    failures.append(f"{action} {name}: {sent.status_code} changed={changed}")
    return reached


UNSHOWN = [
    "/staff/access/apply",
    "/staff/access/changes",
    "/staff/access/conflicts",
    "/staff/contested/{tip_id}/reroute",
    "/staff/tips/{tip_id}/exports/{approval_id}",  # shown once an export is approved
    "/status/contest",
]


def test_a_nul_in_any_page_form_field_is_refused_and_stores_nothing(
    web: TestClient, border: Border, engine: Engine, settings: Any
) -> None:
    callers = Callers(web, border, engine, settings)
    failures: list[str] = []
    reached: set[str] = set()
    anonymous = TestClient(web.app)
    # An enrolment link, made by the admin through the page, so its form is swept too.
    admin = TestClient(web.app)
    page_login(admin, callers.staff[Role.ADMIN])
    staff_page = admin.get("/staff/admin/staff").text
    csrf = next(f for f in forms(staff_page) if f.action.split("?")[0] == "/staff/admin/staff")
    created = admin.post(
        "/staff/admin/staff",
        data={**_filled(csrf), "username": "rosa", "role": "reviewer", "compartment": "us"},
    )
    link = _ENROL_LINK.search(created.text)
    assert link is not None, created.status_code
    reached |= _sweep_forms(anonymous, engine, [*_page_paths(None, ""), link.group(1)], failures)
    reporter = TestClient(web.app)
    status_form = forms(reporter.get("/status").text)[-1]
    signed_in = reporter.post("/status", data={**_filled(status_form), "receipt": callers.receipt})
    assert signed_in.status_code in (200, 303), signed_in.status_code
    reached |= _sweep_forms(reporter, engine, ["/status/tip"], failures)
    clients = {Role.ADMIN: admin}
    for role, who in callers.staff.items():
        if role not in clients:
            clients[role] = TestClient(web.app)
            page_login(clients[role], who)
        reached |= _sweep_forms(clients[role], engine, _page_paths(role, callers.tip_id), failures)
    # Forms the seeded instance shows no one (nothing pending to apply): a poisoned field anyway.
    supervisor = clients[Role.SUPERVISOR]
    token = forms(supervisor.get("/staff/password").text)[-1].value("csrf")
    shown = {re.sub(r"/[0-9a-f-]{36}", "/{id}", r) for r in reached}
    unshown: list[str] = []
    app: Any = web.app
    for e in endpoints(app):
        if e.method != "POST" or not e.is_page or _PARAM.sub("{id}", e.path) in shown:
            continue
        unshown.append(e.path)
        if e.roles and Role.SUPERVISOR in e.roles:
            before = _fingerprint(engine)
            sent = supervisor.post(e.url(), data={"csrf": token, "approve": "1", "x": POISON})
            changed = [k for k, v in _fingerprint(engine).items() if before[k] != v]
            if sent.status_code != 422 or changed:
                failures.append(f"{e.path}: {sent.status_code} changed={changed}")
    assert failures == []
    # Each waits for something the seeded instance does not have (a closed or contested tip, a
    # pending conflict or change request, an approved export); the supervisor ones got a
    # poisoned field above.
    assert sorted(unshown) == sorted(UNSHOWN)
