"""/openapi.json documents every answer: each success of each operation has a real schema (a named
model, or a typed text or byte body), every error status is the one `ErrorBody`, and bodies the
handlers read themselves are declared."""

from __future__ import annotations

from typing import Any

import pytest
from fastapi.testclient import TestClient

ERROR_REF = "#/components/schemas/ErrorBody"
ANONYMOUS = frozenset(
    {
        "GET /healthz",
        "GET /readyz",
        "GET /api/v1/intake/form",
        "POST /api/v1/tips",
        "POST /api/v1/staff/session",
    }
)


@pytest.fixture
def schema(client: TestClient) -> dict[str, Any]:
    response = client.get("/openapi.json")
    assert response.status_code == 200
    body: dict[str, Any] = response.json()
    return body


def _operations(schema: dict[str, Any]) -> list[tuple[str, dict[str, Any]]]:
    return [
        (f"{method.upper()} {path}", operation)
        for path, methods in schema["paths"].items()
        for method, operation in methods.items()
    ]


def _typed(media_type: str, node: dict[str, Any]) -> bool:
    """A named model, a list of them, or a string body for text and bytes; not a bare object."""
    if "$ref" in node:
        return True
    if node.get("type") == "array":
        return _typed(media_type, node.get("items", {}))
    return not media_type.endswith("json") and node.get("type") == "string"


def test_every_success_answer_has_a_schema(schema: dict[str, Any]) -> None:
    missing = []
    for name, operation in _operations(schema):
        for status, response in operation["responses"].items():
            if not status.startswith("2") or status == "204":
                continue
            content = response.get("content", {})
            if not content or not all(_typed(m, c.get("schema", {})) for m, c in content.items()):
                missing.append(f"{name} {status}")
    assert missing == []
    assert len(_operations(schema)) >= 44


def test_every_error_status_is_the_one_error_body(schema: dict[str, Any]) -> None:
    for name, operation in _operations(schema):
        errors = {s: r for s, r in operation["responses"].items() if s[0] in "45"}
        assert {"422", "500", "503"} <= set(errors), name
        for status, response in errors.items():
            if name == "GET /readyz" and status == "503":
                continue  # its own model: the reasons it is not ready
            assert response["content"]["application/json"]["schema"] == {"$ref": ERROR_REF}, (
                name,
                status,
            )


def test_staff_operations_document_401_and_403(schema: dict[str, Any]) -> None:
    for name, operation in _operations(schema):
        if name in ANONYMOUS or " /api/v1/reporter/" in name:
            continue
        assert {"401", "403"} <= set(operation["responses"]), name


@pytest.mark.parametrize(
    ("name", "media_types"),
    [
        ("POST /api/v1/tips", {"application/json", "multipart/form-data"}),
        ("POST /api/v1/reporter/attachments", {"multipart/form-data"}),
        ("POST /api/v1/reporter/session", {"application/json"}),
        ("POST /api/v1/tips/{tip_id}/transitions", {"application/json"}),
        ("POST /api/v1/approvals/{approval_id}/decision", {"application/json"}),
        ("POST /api/v1/access/changes/{request_id}/decision", {"application/json"}),
        ("POST /api/v1/conflicts", {"application/json"}),
        ("POST /api/v1/staff/session", {"application/json"}),
    ],
)
def test_bodies_read_by_hand_are_declared(
    schema: dict[str, Any], name: str, media_types: set[str]
) -> None:
    operation = dict(_operations(schema))[name]
    content = operation["requestBody"]["content"]
    assert set(content) == media_types
    for body in content.values():
        assert "$ref" not in str(body["schema"])  # inlined: openapi_extra registers no components
        assert body["schema"]["properties"]


def test_the_two_decision_bodies_share_their_approve_field(schema: dict[str, Any]) -> None:
    operations = dict(_operations(schema))
    access = operations["POST /api/v1/access/changes/{request_id}/decision"]
    approvals = operations["POST /api/v1/approvals/{approval_id}/decision"]
    access_body = access["requestBody"]["content"]["application/json"]["schema"]
    approval_body = approvals["requestBody"]["content"]["application/json"]["schema"]
    assert access_body["properties"]["approve"] == approval_body["properties"]["approve"]
    assert set(access_body["properties"]) == {"approve"}
    assert set(approval_body["properties"]) == {"approve", "reason"}


def test_binary_and_text_answers_have_their_media_types(schema: dict[str, Any]) -> None:
    operations = dict(_operations(schema))
    download = operations["GET /api/v1/tips/{tip_id}/attachments/{attachment_id}"]
    assert set(download["responses"]["200"]["content"]) == {"application/octet-stream"}
    checkpoint = operations["GET /api/v1/audit/checkpoint"]
    assert set(checkpoint["responses"]["200"]["content"]) == {"text/plain"}
