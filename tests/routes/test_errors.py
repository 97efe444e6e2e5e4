from __future__ import annotations

from typing import Annotated

import pytest
from fastapi import FastAPI, Query
from fastapi.testclient import TestClient

from routes.errors import error_code, is_api_path
from service.errors import Conflict, NotFound

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
