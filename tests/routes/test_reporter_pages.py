"""The tip form over HTTP, on SQLite and PostgreSQL: the page, a submission with a photo, retries,
mistakes, robots and forged forms. The status pages have their own file."""

from __future__ import annotations

import html as htmllib
import re
from datetime import timedelta

import pytest
from fastapi import FastAPI
from fastapi.testclient import TestClient
from sqlalchemy import Engine

from routes import csrf
from service.config import Settings
from service.db import utcnow
from service.errors import InsufficientStorage, PayloadTooLarge, TooManyAttempts, Unavailable
from service.tips.models import Attachment, Tip
from tests.routes.reporter_pages_util import (
    CANARY_TEXT,
    NO_FILE,
    context_of,
    count,
    forms,
    jpeg_with_exif,
    png_with_metadata,
    receipt_in,
    report_data,
    report_form,
    send_report,
    submit,
)


@pytest.mark.parametrize(
    ("lang", "expected"),
    [
        (
            "en",
            [
                "Which police agency is this about?",
                "El Paso Police Department",
                "Bribery",
                'label="United States"',
                'label="Mexico"',
                "Other or unknown",
                "Leave this empty",
                "Remove hidden information (metadata) from my files (recommended)",
                "You can attach up to 20 files. Each file can be at most 100 MB",
                "supervisors can ever see what you write here",
            ],
        ),
        (
            "es",
            [
                "¿De qué corporación policial se trata?",
                "Departamento de Policía de El Paso",
                "Soborno",
                'label="Estados Unidos"',
                'label="México"',
                "Otra o no sé",
                "Deje esto vacío",
                "Eliminar la información oculta (metadatos)",
                "Puede adjuntar hasta 20 archivos. Cada archivo puede pesar como máximo 100 MB",
                "Solo los supervisores de la unidad",
            ],
        ),
    ],
)
def test_report_form_is_translated_and_lists_agencies(
    web: TestClient, lang: str, expected: list[str]
) -> None:
    response = web.get(f"/report?lang={lang}")
    assert response.status_code == 200
    assert "set-cookie" not in response.headers
    page = response.text
    assert f'<html lang="{lang}">' in page
    for text in expected:
        assert text in page, text
    assert "<script" not in page.lower()
    assert "style=" not in page.lower()
    [form] = forms(page)
    assert (form.method, form.enctype) == ("post", "multipart/form-data")
    assert form.action == f"/report?lang={lang}"
    assert re.fullmatch(r"[0-9a-f]{32}", form.value("nonce"))
    assert form.value("csrf").startswith("v1.")
    named = form.named()
    # Files last, so every text field arrives before the first file part.
    assert named[-1].attrs["name"] == "files"
    assert named[-1].attrs["type"] == "file"
    assert "multiple" in named[-1].attrs
    names = [c.attrs["name"] for c in named]
    assert names.index("remove_metadata_present") < names.index("remove_metadata")
    assert {"subject_name_3", "subject_unit_3", "threat_to_life", "website"} <= set(names)
    checkbox = next(c for c in named if c.attrs["name"] == "remove_metadata")
    assert "checked" in checkbox.attrs


def test_each_form_gets_its_own_nonce(web: TestClient) -> None:
    assert report_form(web).value("nonce") != report_form(web).value("nonce")


def test_spanish_report_with_a_photo_shows_the_receipt_once(
    web: TestClient, engine: Engine, capfd: pytest.CaptureFixture[str]
) -> None:
    form = report_form(web, "es")
    files = {"files": ("foto.png", png_with_metadata(), "image/png")}
    response = web.post("/report?lang=es", data=report_data(form), files=files)
    assert response.status_code == 201
    page = response.text
    receipt = receipt_in(page)
    assert "Anótelo ahora, en papel" in page
    assert "ni siquiera nosotros" in page
    assert 'href="/status?lang=es"' in page
    assert "lang=en" not in page  # no language switch: leaving this page loses the receipt
    assert "foto.png" in page
    assert "Información oculta eliminada:" in page
    assert "notas de texto guardadas en la imagen" in page
    # The receipt lives in this body only: no cookie, no header, no log line.
    assert "set-cookie" not in response.headers
    assert receipt not in str(response.headers)
    assert receipt not in str(response.url)
    out, err = capfd.readouterr()
    assert receipt not in out + err
    assert CANARY_TEXT not in out + err
    assert (count(engine, Tip), count(engine, Attachment)) == (1, 1)


def test_unticked_metadata_box_keeps_the_file_as_it_was(web: TestClient) -> None:
    form = report_form(web)
    data = report_data(form, remove_metadata=None)  # present marker, box not ticked
    files = {"files": ("photo.jpg", jpeg_with_exif(), "image/jpeg")}
    response = web.post("/report?lang=en", data=data, files=files)
    assert response.status_code == 201
    assert "You chose to keep the file as it was" in response.text


def test_double_submit_returns_the_same_receipt_and_stores_one_tip(
    web: TestClient, engine: Engine
) -> None:
    form = report_form(web)
    data = report_data(form)
    files = {"files": ("photo.jpg", jpeg_with_exif(), "image/jpeg")}
    first = web.post("/report?lang=en", data=data, files=files)
    second = web.post("/report?lang=en", data=data, files=files)
    assert (first.status_code, second.status_code) == (201, 200)
    assert receipt_in(first.text) == receipt_in(second.text)
    assert "This report had already been received" in second.text
    assert (count(engine, Tip), count(engine, Attachment)) == (1, 1)


def test_mistakes_come_back_in_spanish_beside_each_field_with_the_text_kept(
    web: TestClient, engine: Engine
) -> None:
    form = report_form(web, "es")
    story = "Muy <corto> & poco"
    data = report_data(
        form,
        agency="",
        allegations=None,
        narrative=story,
        subject_name_1="",
        subject_badge_1="",
        subject_unit_1="",
        subject_rank_1="Comandante",
        location="Puente Zaragoza",
    )
    response = web.post("/report?lang=es", data=data, files=NO_FILE)
    assert response.status_code == 422
    page = response.text
    assert '<html lang="es">' in page
    for message in (
        "Elija la corporación, o «Otra o no sé».",
        "Elija al menos un tipo de conducta indebida.",
        "Describa lo que pasó con al menos 20 caracteres.",
        "Para esta persona o unidad, indique al menos un nombre",
        "adjúntelos de nuevo antes de enviar la denuncia",
    ):
        assert message in page, message
    assert htmllib.escape(story, quote=False) in page
    assert 'value="Puente Zaragoza"' in page
    assert 'value="Comandante"' in page
    assert 'id="narrative-error"' in page
    again = forms(page)[0]
    assert again.value("nonce") == form.value("nonce")  # nothing was stored under it
    assert count(engine, Tip) == 0
    fixed = web.post("/report?lang=es", data=report_data(again), files=NO_FILE)
    assert fixed.status_code == 201


def test_an_unknown_agency_is_marked_on_the_form(web: TestClient, engine: Engine) -> None:
    response = send_report(web, agency="no-such-pd")
    assert response.status_code == 422
    assert "This agency is no longer on our list" in response.text
    assert count(engine, Tip) == 0


def test_a_filled_honeypot_is_refused_and_nothing_is_stored(
    web: TestClient, engine: Engine
) -> None:
    form = report_form(web)
    data = report_data(form, website="http://spam.example")
    files = {"files": ("photo.jpg", jpeg_with_exif(), "image/jpeg")}
    response = web.post("/report?lang=en", data=data, files=files)
    assert response.status_code == 422
    assert "spam.example" not in response.text
    assert "as if a program had filled it in" in response.text
    assert (count(engine, Tip), count(engine, Attachment)) == (0, 0)


def _forged_tokens(
    web: TestClient, engine: Engine, settings: Settings
) -> dict[str, dict[str, str]]:
    form = report_form(web)
    nonce, token = form.value("nonce"), form.value("csrf")
    other = report_form(web)
    ctx = context_of(engine, settings)
    login = forms(web.get("/status").text)[0].value("csrf")
    stale = csrf.issue(ctx, purpose="report", binding=nonce, now=utcnow() - timedelta(hours=3))
    issued, _, mac = token.rpartition(".")
    return {
        "missing": {"nonce": nonce, "csrf": ""},
        "tampered": {"nonce": nonce, "csrf": f"{issued}.{mac[::-1]}"},
        "other form's nonce": {"nonce": other.value("nonce"), "csrf": token},
        "other purpose": {"nonce": nonce, "csrf": login},
        "expired": {"nonce": nonce, "csrf": stale},
        "bad nonce": {"nonce": "not-a-nonce-at-all-0123456789abc", "csrf": token},
    }


def test_forged_missing_expired_or_borrowed_csrf_tokens_get_403_and_store_nothing(
    web: TestClient, engine: Engine, settings: Settings
) -> None:
    form = report_form(web)
    files = {"files": ("photo.jpg", jpeg_with_exif(), "image/jpeg")}
    for case, tokens in _forged_tokens(web, engine, settings).items():
        response = web.post("/report?lang=es", data=report_data(form, **tokens), files=files)
        assert response.status_code == 403, case
        assert "Este formulario ya no se puede usar" in response.text, case
        assert "No se guardó nada." in response.text, case
    assert (count(engine, Tip), count(engine, Attachment)) == (0, 0)


def test_a_post_from_another_site_is_refused(web: TestClient, engine: Engine) -> None:
    form = report_form(web)
    response = web.post(
        "/report", data=report_data(form), files=NO_FILE, headers={"sec-fetch-site": "cross-site"}
    )
    assert response.status_code == 403
    assert count(engine, Tip) == 0


def test_the_form_must_be_multipart(web: TestClient) -> None:
    form = report_form(web)
    response = web.post("/report?lang=es", data={"nonce": form.value("nonce")})
    assert response.status_code == 415


@pytest.mark.parametrize(
    ("error", "status", "english", "spanish"),
    [
        (PayloadTooLarge("x"), 413, "Too much to send at once", "Demasiado para enviar"),
        (Unavailable("x"), 503, "The service is busy right now", "El servicio está ocupado"),
        (InsufficientStorage("x"), 507, "run out of storage space", "se quedó sin espacio"),
        (TooManyAttempts("x"), 429, "Too many attempts", "Demasiados intentos"),
    ],
)
def test_error_pages_say_what_happened_in_both_languages(
    app: FastAPI, error: Exception, status: int, english: str, spanish: str
) -> None:
    def fail() -> None:
        raise error

    app.add_api_route("/report/fail", fail, methods=["POST"])
    with TestClient(app) as client:
        for lang, text in (("en", english), ("es", spanish)):
            response = client.post(f"/report/fail?lang={lang}")
            assert response.status_code == status
            assert text in response.text
            assert "set-cookie" not in response.headers
            if status != 429:
                stored = "Nothing was stored." if lang == "en" else "No se guardó nada."
                assert stored in response.text


def test_a_submitted_report_never_sets_a_cookie(web: TestClient) -> None:
    submit(web, "es")
    assert not web.cookies
