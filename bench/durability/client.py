"""HTTP as the harness's clients speak it: submissions with an Idempotency-Key, receipt logins,
a staff session that opens tips and downloads their files. Never raises on a dead server: an
answer with status 0 means none came (refused, reset or timed out).
"""

from __future__ import annotations

import hashlib
import http.client
import json
import os
import secrets
import time
from dataclasses import dataclass
from typing import Any

import pyotp

__all__ = [
    "Answer",
    "Submission",
    "json_submission",
    "key_of",
    "multipart_submission",
    "receipt_files",
    "request",
    "staff_tip",
    "staff_token",
    "submit",
]


@dataclass(frozen=True)
class Answer:
    status: int  # 0: no answer
    body: bytes
    seconds: float
    error: str = ""  # the exception's class name when status is 0

    def json(self) -> Any:
        try:
            return json.loads(self.body)
        except ValueError:
            return None


@dataclass(frozen=True)
class Submission:
    """One tip as a client sends it, and sends again, byte for byte, on a retry."""

    key: str
    body: bytes
    content_type: str
    files: dict[str, str]  # filename -> sha256 of the bytes sent


def request(
    port: int,
    method: str,
    path: str,
    body: bytes | None = None,
    headers: dict[str, str] | None = None,
    *,
    timeout: float = 30.0,
) -> Answer:
    start = time.monotonic()
    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=timeout)
    try:
        conn.request(method, path, body=body, headers=headers or {})
        response = conn.getresponse()
        data = response.read()
        return Answer(response.status, data, time.monotonic() - start)
    except (OSError, http.client.HTTPException) as exc:
        return Answer(0, b"", time.monotonic() - start, type(exc).__name__)
    finally:
        conn.close()


_MARK = "Harness tip"


def _tip(label: str) -> dict[str, Any]:
    return {
        "agency": "el-paso-pd",
        "allegations": ["bribery"],
        "narrative": f"{_MARK} {label}: the sergeant takes cash at the bridge every Friday. " * 8,
        "subjects": [{"name": f"Officer {label[:6]}", "badge": "4471", "unit": "Bridge 3"}],
        "incident_date": "2026-10",
        "location": "Ysleta port of entry",
    }


def json_submission() -> Submission:
    key = secrets.token_hex(16)
    body = json.dumps(_tip(key)).encode()
    return Submission(key, body, "application/json", {})


def multipart_submission(file_sizes: list[int]) -> Submission:
    """A tip part and one file per size; each file is named after the key (to find duplicates)."""
    key = secrets.token_hex(16)
    boundary = secrets.token_hex(16)
    parts = [
        f'--{boundary}\r\nContent-Disposition: form-data; name="tip"\r\n'
        f"Content-Type: application/json\r\n\r\n{json.dumps(_tip(key))}\r\n".encode()
    ]
    files: dict[str, str] = {}
    for n, size in enumerate(file_sizes):
        name, data = f"{key}-{n}.bin", os.urandom(size)
        files[name] = hashlib.sha256(data).hexdigest()
        parts.append(
            f'--{boundary}\r\nContent-Disposition: form-data; name="files"; filename="{name}"\r\n'
            f"Content-Type: application/octet-stream\r\n\r\n".encode()
            + data
            + b"\r\n"
        )
    parts.append(f"--{boundary}--\r\n".encode())
    content_type = f"multipart/form-data; boundary={boundary}"
    return Submission(key, b"".join(parts), content_type, files)


def submit(port: int, sub: Submission, *, timeout: float = 60.0) -> Answer:
    headers = {"content-type": sub.content_type, "idempotency-key": sub.key}
    return request(port, "POST", "/api/v1/tips", sub.body, headers, timeout=timeout)


def receipt_files(port: int, receipt: str) -> list[str] | None:
    """Log in with the receipt and open the tip: its file names, or None if either step fails."""
    body = json.dumps({"receipt": receipt}).encode()
    login = request(port, "POST", "/api/v1/reporter/session", body, _JSON)
    token = (login.json() or {}).get("token") if login.status == 200 else None
    if not token:
        return None
    view = request(port, "GET", "/api/v1/reporter/tip", headers=_bearer(token))
    if view.status != 200:
        return None
    return [a["name"] for a in view.json()["attachments"]]


def staff_token(port: int, username: str, password: str, totp_secret: str) -> str:
    """Sign in, retrying for up to a minute while the server is busy."""
    answer = Answer(0, b"", 0.0)
    for attempt in range(4):
        code = pyotp.TOTP(totp_secret).now()
        body = json.dumps({"username": username, "password": password, "totp": code}).encode()
        answer = request(port, "POST", "/api/v1/staff/session", body, _JSON, timeout=10)
        if answer.status == 201:
            return str(answer.json()["token"])
        time.sleep(attempt + 1)
    raise RuntimeError(f"staff sign-in failed: {answer.status} {answer.body[:200]!r}")


def staff_tip(port: int, token: str, tip_id: str) -> tuple[str, dict[str, str]] | None:
    """The tip as a staff member decrypts it: the submission's Idempotency-Key (from its
    narrative) and its files (name -> sha256); None if any of it cannot be read."""
    view = request(port, "GET", f"/api/v1/tips/{tip_id}", headers=_bearer(token))
    if view.status != 200:
        return None
    tip = view.json()
    files: dict[str, str] = {}
    for item in tip["evidence"]:
        path = f"/api/v1/tips/{tip_id}/attachments/{item['id']}"
        download = request(port, "GET", path, headers=_bearer(token), timeout=120)
        if download.status != 200:
            return None
        files[item["name"]] = hashlib.sha256(download.body).hexdigest()
    return key_of(str(tip["report"].get("narrative", ""))), files


def key_of(narrative: str) -> str:
    """The key `_tip` wrote into the narrative ("" for tips the harness did not send)."""
    words = narrative.split(maxsplit=3)
    return words[2].rstrip(":") if narrative.startswith(_MARK) and len(words) > 2 else ""


_JSON = {"content-type": "application/json"}


def _bearer(token: str) -> dict[str, str]:
    return {"authorization": f"Bearer {token}"}
