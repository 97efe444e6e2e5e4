from __future__ import annotations

import importlib
import pkgutil
import re
from typing import Annotated

import pytest
from fastapi import FastAPI, Query
from fastapi.testclient import TestClient

import routes
import service
from routes.errors import error_code, is_api_path
from service import errors as errors_module
from service.errors import Conflict, NotFound, ProbityError

CANARY = "Canary-Value-77"


@pytest.fixture
def api_client(app: FastAPI) -> TestClient:
    def item(item_id: int, limit: Annotated[int, Query(ge=1)]) -> dict[str, int]:
        return {"item_id": item_id, "limit": limit}

    def missing() -> None:
        raise NotFound("no such tip")

    def conflict() -> None:
        raise Conflict("illegal transition")

    def boom() -> None:
        raise RuntimeError(f"secret content {CANARY}")

    app.add_api_route("/api/v1/items/{item_id}", item)
    app.add_api_route("/api/v1/missing", missing)
    app.add_api_route("/api/v1/conflict", conflict)
    app.add_api_route("/api/v1/boom", boom)
    app.add_api_route("/boom", boom)
    return TestClient(app)


def test_unknown_api_path_is_a_json_404(client: TestClient) -> None:
    response = client.get("/api/v1/no-such-thing")
    assert response.status_code == 404
    assert response.headers["content-type"] == "application/json"
    assert response.json() == {"error": "not_found", "detail": "Not Found"}


def test_validation_error_names_fields_but_never_echoes_values(api_client: TestClient) -> None:
    with api_client:
        response = api_client.get(f"/api/v1/items/{CANARY}?limit=0")
    assert response.status_code == 422
    body = response.json()
    assert set(body) == {"error", "detail"}
    assert body["error"] == "validation_error"
    assert "path.item_id" in body["detail"]
    assert "query.limit" in body["detail"]
    assert CANARY not in response.text


def test_missing_required_field_is_named(api_client: TestClient) -> None:
    with api_client:
        response = api_client.get("/api/v1/items/3")
    assert response.status_code == 422
    assert response.json()["detail"] == "invalid fields: query.limit (missing)"


@pytest.mark.parametrize(
    ("path", "status", "body"),
    [
        ("/api/v1/missing", 404, {"error": "not_found", "detail": "no such tip"}),
        ("/api/v1/conflict", 409, {"error": "conflict", "detail": "illegal transition"}),
    ],
)
def test_domain_errors_keep_their_code_and_status(
    api_client: TestClient, path: str, status: int, body: dict[str, str]
) -> None:
    with api_client:
        response = api_client.get(path)
    assert response.status_code == status
    assert response.json() == body


def test_unexpected_api_error_is_a_bare_json_500(api_client: TestClient) -> None:
    with api_client:
        response = api_client.get("/api/v1/boom")
    assert response.status_code == 500
    assert response.json() == {"error": "internal_error", "detail": "internal error"}
    assert CANARY not in response.text
    assert "RuntimeError" not in response.text


def test_unexpected_page_error_is_an_html_500_without_internals(api_client: TestClient) -> None:
    with api_client:
        response = api_client.get("/boom?lang=es")
    assert response.status_code == 500
    assert response.headers["content-type"].startswith("text/html")
    assert "Algo salió mal" in response.text
    assert CANARY not in response.text
    assert "Traceback" not in response.text


def test_unknown_page_is_a_translated_html_404(client: TestClient) -> None:
    response = client.get("/no-such-page?lang=es")
    assert response.status_code == 404
    assert response.headers["content-type"].startswith("text/html")
    assert '<html lang="es">' in response.text
    assert "Página no encontrada" in response.text


def test_method_not_allowed_keeps_the_allow_header(client: TestClient) -> None:
    response = client.post("/healthz")
    assert response.status_code == 405
    assert response.json()["error"] == "method_not_allowed"
    assert response.headers["allow"] == "GET"


def test_openapi_is_served_and_the_docs_ui_is_not(client: TestClient) -> None:
    schema = client.get("/openapi.json").json()
    assert "/healthz" in schema["paths"]
    assert "/" not in schema["paths"]  # pages are not API
    assert client.get("/docs").status_code == 404
    assert client.get("/redoc").status_code == 404


def test_openapi_documents_our_error_shape(client: TestClient) -> None:
    schema = client.get("/openapi.json").json()
    assert "ErrorBody" in schema["components"]["schemas"]
    assert "HTTPValidationError" not in schema["components"]["schemas"]


@pytest.mark.parametrize(
    ("path", "api"),
    [("/api", True), ("/api/v1/tips", True), ("/readyz", True), ("/apiary", False), ("/", False)],
)
def test_api_paths_are_told_apart_from_pages(path: str, api: bool) -> None:
    assert is_api_path(path) is api


def test_error_codes_are_snake_case_names() -> None:
    assert error_code(404) == "not_found"
    assert error_code(402) == "payment_required"
    assert error_code(799) == "error"


def _tree(base: type[ProbityError]) -> list[type[ProbityError]]:
    return [base, *(c for sub in base.__subclasses__() for c in _tree(sub))]


def _every_module() -> None:
    for package in (service, routes):
        for module in pkgutil.walk_packages(package.__path__, package.__name__ + "."):
            importlib.import_module(module.name)


def test_every_error_class_is_in_the_one_tree() -> None:
    _every_module()
    classes = _tree(ProbityError)
    outside = [f"{c.__module__}.{c.__name__}" for c in classes if c.__module__ != "service.errors"]
    assert outside == []
    assert {c.__name__ for c in classes} == set(errors_module.__all__)
    # The module docstring draws the tree: every class, with its status.
    drawn = dict(re.findall(r"── (\w+) +(\d{3}) ", errors_module.__doc__ or ""))
    assert drawn == {c.__name__: str(c.status) for c in classes[1:]}


def _instance(cls: type[ProbityError]) -> ProbityError:
    if cls is errors_module.VerificationError:
        return errors_module.VerificationError(3, "entry 3: altered")
    if cls is errors_module.HistoryMismatch:
        return errors_module.HistoryMismatch("entry_altered")
    return cls("what went wrong")


@pytest.mark.parametrize("cls", _tree(ProbityError)[1:], ids=lambda c: c.__name__)
def test_each_error_of_the_tree_keeps_its_status_and_code_on_the_wire(
    app: FastAPI, cls: type[ProbityError]
) -> None:
    error = _instance(cls)

    def fail() -> None:
        raise error

    app.add_api_route("/api/v1/fail", fail)
    with TestClient(app) as client:
        response = client.get("/api/v1/fail")
    assert response.status_code == cls.status
    assert response.json() == {"error": cls.code, "detail": error.detail}
    retry = response.headers.get("retry-after")
    assert retry == (str(cls.retry_after) if cls.retry_after else None)


@pytest.mark.parametrize(
    ("cls", "status", "code"),
    [
        (errors_module.BadRange, 400, "bad_range"),
        (errors_module.VerificationError, 422, "verification_failed"),
        (errors_module.InvalidTransition, 409, "invalid_transition"),
        (errors_module.BlobTooLarge, 413, "blob_too_large"),
        (errors_module.LoginRequired, 401, "unauthorized"),
        (errors_module.HistoryMismatch, 503, "audit_log_alarm"),
        (errors_module.ReplayExpired, 410, "replay_expired"),
        (errors_module.NotClosed, 409, "not_closed"),
        (errors_module.AlreadyContested, 409, "already_contested"),
        (errors_module.NotPermitted, 403, "forbidden"),
        (errors_module.CsrfRejected, 403, "forbidden"),
    ],
)
def test_classes_brought_into_the_tree_keep_their_wire_status_and_code(
    cls: type[ProbityError], status: int, code: str
) -> None:
    assert (cls.status, cls.code) == (status, code)


def test_history_mismatch_sends_no_retry_after() -> None:
    # An operator must act; the 503 it always gave carries no Retry-After.
    assert errors_module.HistoryMismatch.retry_after is None
