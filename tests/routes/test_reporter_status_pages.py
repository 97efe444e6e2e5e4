"""Coming back with a receipt, over HTTP on SQLite and PostgreSQL: sign in, the cookie, the
status page, messages both ways, more files, sign out, and every way a sign-in can fail."""

from __future__ import annotations

import re
import uuid
from datetime import timedelta

import pytest
from fastapi.testclient import TestClient
from httpx2 import Response
from sqlalchemy import Engine, select

from crypto.receipt import new_receipt
from routes.app import create_app
from service.config import Settings
from service.db import make_session_factory, session_scope, utcnow
from service.tips.conversation import post_staff_message
from service.tips.models import Attachment, Message, Tip
from service.tips.reporter_auth import issue_token
from tests.factories import Border
from tests.routes.reporter_pages_util import (
    context_of,
    count,
    forms,
    jpeg_with_exif,
    png_with_metadata,
    submit,
)

STAFF_QUESTION = "¿Puede decirnos a qué hora cruzan los camiones?"


def login_token(client: TestClient, lang: str = "en") -> str:
    response = client.get(f"/status?lang={lang}")
    assert response.status_code == 200
    assert "set-cookie" not in response.headers
    return forms(response.text)[0].value("csrf")


def sign_in(
    client: TestClient, receipt: str, lang: str = "en", token: str | None = None
) -> Response:
    data = {"csrf": token or login_token(client, lang), "receipt": receipt}
    return client.post(f"/status?lang={lang}", data=data, follow_redirects=False)


def wrong_secret(receipt: str) -> str:
    """The same lookup id (first two groups) with another secret."""
    last = receipt[-1]
    return receipt[:-1] + ("A" if last != "A" else "B")


def test_receipt_signs_in_and_the_page_shows_status_files_and_the_conversation(
    web: TestClient, engine: Engine, border: Border
) -> None:
    files = {"files": ("foto.png", png_with_metadata(), "image/png")}
    _, receipt = submit(web, "es", files=files)
    response = sign_in(web, receipt.lower().replace("-", " "), "es")  # as a person might type it
    assert response.status_code == 303
    assert response.headers["location"] == "/status/tip?lang=es"
    with session_scope(make_session_factory(engine)) as session:
        tip = session.scalars(select(Tip)).one()
        post_staff_message(
            session, tip, STAFF_QUESTION, staff_id=border.reviewer_us.id, today=utcnow().date()
        )
    page = web.get("/status/tip?lang=es")
    assert page.status_code == 200
    text = page.text
    assert "Recibida" in text
    assert "espera una primera lectura" in text
    assert "Recibida el " in text
    assert "foto.png" in text
    assert "Información oculta eliminada:" in text
    assert "Unidad de integridad" in text
    assert STAFF_QUESTION in text
    assert receipt not in text


def test_a_message_and_a_file_are_sent_together(web: TestClient, engine: Engine) -> None:
    _, receipt = submit(web)
    sign_in(web, receipt)
    page = forms(web.get("/status/tip").text)
    [message_form] = [f for f in page if f.action == "/status/messages?lang=en"]
    assert message_form.enctype == "multipart/form-data"
    assert message_form.named()[-1].attrs["name"] == "files"
    data = {
        "csrf": message_form.value("csrf"),
        "body": "The trucks cross at 3 a.m. on Tuesdays.",
        "remove_metadata_present": "1",
        "remove_metadata": "1",
    }
    files = {"files": ("night.jpg", jpeg_with_exif(), "image/jpeg")}
    sent = web.post("/status/messages", data=data, files=files, follow_redirects=False)
    assert sent.status_code == 303
    assert sent.headers["location"] == "/status/tip?notice=sent&lang=en"
    assert "probity_reporter=" in sent.headers["set-cookie"]
    text = web.get(sent.headers["location"]).text
    assert "Sent. The integrity unit will see it." in text
    assert "The trucks cross at 3 a.m. on Tuesdays." in text
    assert "night.jpg" in text
    assert "camera or phone details and settings (EXIF)" in text
    assert (count(engine, Message), count(engine, Attachment)) == (1, 1)


def test_an_empty_message_without_files_comes_back_with_an_error(
    web: TestClient, engine: Engine
) -> None:
    _, receipt = submit(web, "es")
    sign_in(web, receipt, "es")
    token = forms(web.get("/status/tip?lang=es").text)[0].value("csrf")
    data = {"csrf": token, "body": "   ", "remove_metadata_present": "1"}
    response = web.post(
        "/status/messages?lang=es",
        data=data,
        files={"files": ("", b"", "application/octet-stream")},
    )
    assert response.status_code == 422
    assert "Escriba un mensaje o adjunte un archivo." in response.text
    assert count(engine, Message) == 0


def test_a_message_with_a_forged_token_is_refused_and_stores_nothing(
    web: TestClient, engine: Engine
) -> None:
    _, receipt = submit(web)
    sign_in(web, receipt)
    stolen = login_token(web)  # a real token, but for another form
    files = {"files": ("night.jpg", jpeg_with_exif(), "image/jpeg")}
    for token in ("", "v1.1.forged", stolen):
        data = {"csrf": token, "body": "Injected by another site"}
        response = web.post("/status/messages", data=data, files=files)
        assert response.status_code == 403
    assert (count(engine, Message), count(engine, Attachment)) == (0, 0)


def test_unknown_and_wrong_receipts_get_the_same_401_page(web: TestClient) -> None:
    _, receipt = submit(web, "es")
    token = login_token(web, "es")
    unknown = sign_in(web, new_receipt().format(), "es", token)
    wrong = sign_in(web, wrong_secret(receipt), "es", token)
    assert unknown.status_code == wrong.status_code == 401
    assert unknown.text == wrong.text
    assert "No encontramos una denuncia con ese comprobante." in wrong.text
    assert "set-cookie" not in unknown.headers
    assert "set-cookie" not in wrong.headers
    assert not web.cookies


def test_a_malformed_receipt_is_marked_on_the_form(web: TestClient) -> None:
    response = sign_in(web, "not a receipt")
    assert response.status_code == 422
    assert "This does not look like a receipt." in response.text
    assert 'aria-invalid="true"' in response.text
    assert "not a receipt" not in response.text


def test_repeated_failures_lock_the_receipt_with_a_429_page(web: TestClient) -> None:
    _, receipt = submit(web)
    token = login_token(web)
    for _ in range(5):
        assert sign_in(web, wrong_secret(receipt), token=token).status_code == 401
    locked = sign_in(web, receipt, token=token)
    assert locked.status_code == 429
    assert "Too many attempts were made with this receipt" in locked.text
    assert int(locked.headers["retry-after"]) > 0
    assert not web.cookies


def test_sign_in_needs_the_login_forms_token(web: TestClient) -> None:
    _, receipt = submit(web)
    for token in ("", "v1.0.AAAA"):
        response = sign_in(web, receipt, token=token or "x")
        assert response.status_code == 403
    cross = web.post(
        "/status",
        data={"csrf": login_token(web), "receipt": receipt},
        headers={"sec-fetch-site": "cross-site"},
    )
    assert cross.status_code == 403
    assert not web.cookies


def test_the_session_cookie_is_strict_and_dies_with_the_browser(
    settings: Settings, border: Border
) -> None:
    secure = settings.model_copy(update={"secure_cookies": True})
    for current, flag in ((settings, False), (secure, True)):
        with TestClient(create_app(current)) as client:
            _, receipt = submit(client)
            cookie = sign_in(client, receipt).headers["set-cookie"]
            attributes = {part.strip().split("=")[0].lower() for part in cookie.split(";")}
            assert cookie.startswith("probity_reporter=")
            assert {"httponly", "path", "samesite"} <= attributes
            assert "Path=/status" in cookie
            assert "SameSite=strict" in cookie
            assert ("secure" in attributes) is flag
            assert not {"max-age", "expires", "domain"} & attributes


def test_every_signed_in_page_renews_the_cookie(web: TestClient) -> None:
    _, receipt = submit(web)
    sign_in(web, receipt)
    first = web.cookies["probity_reporter"]
    response = web.get("/status/tip")
    assert "probity_reporter=" in response.headers["set-cookie"]
    assert web.cookies["probity_reporter"] != first


def test_no_page_sets_a_cookie_before_a_receipt_login(web: TestClient) -> None:
    for path in ("/", "/?lang=es", "/report", "/status", "/status?notice=expired", "/nowhere"):
        assert "set-cookie" not in web.get(path).headers, path
    submit(web)
    sign_in(web, new_receipt().format())
    assert not web.cookies


@pytest.mark.parametrize("kind", ["missing", "forged", "expired"])
def test_without_a_valid_cookie_the_status_page_sends_you_to_sign_in(
    web: TestClient, engine: Engine, settings: Settings, kind: str
) -> None:
    if kind == "forged":
        web.cookies.set("probity_reporter", "forged-token", path="/status")
    elif kind == "expired":
        _, receipt = submit(web)
        sign_in(web, receipt)
        tip_id = _only_tip_id(engine)
        old = utcnow() - timedelta(hours=1)
        ctx = context_of(engine, settings)
        stale = issue_token(ctx, tip_id, "AGE-SECRET-KEY-1X", started=old, now=old)
        web.cookies.clear()
        web.cookies.set("probity_reporter", stale, path="/status")
    response = web.get("/status/tip?lang=es", follow_redirects=False)
    assert response.status_code == 303
    notice = "signin" if kind == "missing" else "expired"
    assert response.headers["location"] == f"/status?notice={notice}&lang=es"
    if kind != "missing":
        assert re.search(r"probity_reporter=\"?\"?;.*Max-Age=0", response.headers["set-cookie"])
    page = web.get(response.headers["location"]).text
    assert "Inicie sesión con su comprobante" in page or "Su sesión terminó." in page


def _only_tip_id(engine: Engine) -> uuid.UUID:
    with make_session_factory(engine)() as session:
        return session.scalars(select(Tip.id)).one()


def test_sign_out_clears_the_cookie_and_needs_its_token(web: TestClient) -> None:
    _, receipt = submit(web)
    sign_in(web, receipt)
    page = forms(web.get("/status/tip").text)
    [logout] = [f for f in page if f.action == "/status/logout?lang=en"]
    forged = web.post("/status/logout", data={"csrf": "v1.0.x"}, follow_redirects=False)
    assert forged.status_code == 403
    assert "probity_reporter" in web.cookies
    response = web.post(
        "/status/logout?lang=en", data={"csrf": logout.value("csrf")}, follow_redirects=False
    )
    assert response.status_code == 303
    assert response.headers["location"] == "/status?notice=signed_out&lang=en"
    assert "Max-Age=0" in response.headers["set-cookie"]
    assert "Path=/status" in response.headers["set-cookie"]
    assert "probity_reporter" not in web.cookies
    assert web.get("/status/tip", follow_redirects=False).status_code == 303
