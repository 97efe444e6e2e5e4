"""A reporter's whole journey in Chromium with JavaScript off, against a real `probity serve`, on
SQLite and PostgreSQL: on a phone, the Spanish landing page, the form with a photo that carries GPS
and camera details, the receipt (and what was removed from the photo); then, later, in a fresh
browser context on a desktop, the way back with a loosely typed receipt, a question from the
integrity unit, and a reply."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import pytest
from PIL import ExifTags, Image
from playwright.sync_api import Page, Response, ViewportSize, expect
from sqlalchemy import Engine, select

from service.agencies.models import Agency
from service.config import Settings
from service.db import make_session_factory, session_scope, utcnow
from service.tips.conversation import post_staff_message
from service.tips.models import Tip
from tests.browser.conftest import NewPage
from tests.factories import seed_border
from tests.live import live_server, server_env
from tests.routes.reporter_pages_util import RECEIPT

PHONE = ViewportSize(width=375, height=740)
PHOTO = "foto-garita.jpg"
NARRATIVE = (
    "El agente Ortega cobra dinero a los camioneros para dejarlos pasar por la garita de Otay "
    "sin revisión, casi todos los viernes por la noche."
)
SUBJECT = "Agente Ortega"
QUESTION = "¿A qué hora llegan los camiones a la garita?"
REPLY = "Llegan entre las once y la medianoche.\nSiempre es el mismo agente."


def photo_with_location(path: Path) -> Path:
    """A real JPEG whose EXIF names the camera and the photographer and says where it was taken."""
    exif = Image.Exif()
    exif[ExifTags.Base.Make] = "CanaryCam"
    exif[ExifTags.Base.Artist] = "Canary Photographer"
    gps = exif.get_ifd(ExifTags.IFD.GPSInfo)
    gps[ExifTags.GPS.GPSLatitudeRef] = "N"
    gps[ExifTags.GPS.GPSLatitude] = (32.0, 33.0, 2.5)
    gps[ExifTags.GPS.GPSLongitudeRef] = "W"
    gps[ExifTags.GPS.GPSLongitude] = (116.0, 56.0, 18.0)
    Image.new("RGB", (64, 48), (40, 90, 160)).save(path, format="JPEG", exif=exif)
    with Image.open(path) as written:  # the test means nothing if Pillow dropped the tags
        assert written.getexif().get_ifd(ExifTags.IFD.GPSInfo)
    return path


def document(response: Response | None, status: int = 200) -> str:
    """The HTML the server sent for a page: the expected status, and no script in it."""
    assert response is not None
    assert response.status == status, f"{response.url}: {response.status}"
    html = response.text()
    assert "<script" not in html.lower(), response.url
    return html


def follow(page: Page, act: Callable[[], None], status: int = 200) -> str:
    """Do what leads to another page (a click on a link or a button) and check that page."""
    with page.expect_navigation() as navigation:
        act()
    return document(navigation.value, status)


def in_spanish(page: Page, heading: str) -> None:
    expect(page.locator("html")).to_have_attribute("lang", "es")
    expect(page.get_by_role("heading", level=1)).to_have_text(heading)
    expect(page.locator("script")).to_have_count(0)


def test_spanish_reporter_sends_a_photo_then_answers_the_integrity_unit(
    new_page: NewPage, engine: Engine, settings: Settings, tmp_path: Path
) -> None:
    border = seed_border(engine, settings)
    photo = photo_with_location(tmp_path / PHOTO)
    with live_server(server_env(settings), tmp_path / "server.log") as base:
        # --- First visit, on a phone: the landing page, the form, the receipt.
        page = new_page(viewport=PHONE)
        document(page.goto(f"{base}/?lang=es"))
        in_spanish(page, "Denuncie de forma segura conductas indebidas de la policía")
        follow(page, page.get_by_role("link", name="Hacer una denuncia", exact=True).click)
        expect(page).to_have_url(f"{base}/report?lang=es")
        in_spanish(page, "Hacer una denuncia")

        page.get_by_label("¿De qué corporación policial se trata?").select_option(
            label="Policía Municipal de Tijuana"
        )
        page.get_by_label("Soborno", exact=True).check()
        page.get_by_label("¿Qué pasó?").fill(NARRATIVE)
        subject = page.get_by_role("group", name="Persona o unidad 1", exact=True)
        subject.get_by_label("Nombre", exact=True).fill(SUBJECT)
        expect(page.get_by_label("Eliminar la información oculta (metadatos)")).to_be_checked()
        page.get_by_label("Elegir archivos").set_input_files(photo)
        shot = tmp_path / "report-form-es.png"
        page.screenshot(path=shot, full_page=True)
        with Image.open(shot) as image:  # a full-page shot is as wide as the page's content
            assert image.width == PHONE["width"], "the form scrolls sideways on a phone"

        send = page.get_by_role("button", name="Enviar la denuncia", exact=True)
        follow(page, send.click, status=201)
        in_spanish(page, "Su denuncia se recibió")
        shown = page.get_by_role("region", name="Su comprobante").locator(".receipt")
        receipt = shown.inner_text().strip()
        assert RECEIPT.fullmatch(receipt), receipt
        expect(page.get_by_text("Anótelo ahora, en papel")).to_be_visible()
        stored = page.locator(".files li")
        expect(stored).to_have_count(1)
        expect(stored.locator(".file-name")).to_have_text(PHOTO)
        expect(stored).to_contain_text("Información oculta eliminada:")
        expect(stored).to_contain_text("datos y ajustes de la cámara o del teléfono (EXIF)")
        expect(stored).to_contain_text("la ubicación GPS")
        # The receipt is in the page body only: not in the address, and no cookie was set.
        assert receipt not in page.url
        assert page.context.cookies() == []

        # --- The integrity unit asks a question (the staff pages would call the same service).
        with session_scope(make_session_factory(engine)) as session:
            tip = session.scalars(select(Tip)).one()
            agency = session.get(Agency, tip.agency_id)
            assert agency is not None
            assert agency.slug == "tijuana-municipal"
            post_staff_message(
                session, tip, QUESTION, staff_id=border.reviewer_mx.id, today=utcnow().date()
            )

        # --- Coming back later, in a fresh context: only the receipt, typed loosely.
        later = new_page()
        document(later.goto(f"{base}/status?lang=es"))
        in_spanish(later, "Consultar su denuncia")
        later.get_by_label("Su comprobante", exact=True).fill(receipt.lower().replace("-", " "))
        follow(later, later.get_by_role("button", name="Iniciar sesión", exact=True).click)
        expect(later).to_have_url(f"{base}/status/tip?lang=es")
        in_spanish(later, "Su denuncia")
        [cookie] = later.context.cookies()
        assert (cookie["name"], cookie["path"]) == ("probity_reporter", "/status")
        assert (cookie["httpOnly"], cookie["sameSite"]) == (True, "Strict")

        messages = later.get_by_role("region", name="Mensajes").locator(".message")
        expect(messages).to_have_count(1)
        expect(messages.first).to_contain_text("Unidad de integridad")
        expect(messages.first.locator(".body")).to_have_text(QUESTION)
        files = later.get_by_role("region", name="Sus archivos")
        expect(files.locator(".file-name")).to_have_text([PHOTO])
        expect(files).to_contain_text("la ubicación GPS")

        later.get_by_label("Su mensaje", exact=True).fill(REPLY)
        follow(later, later.get_by_role("button", name="Enviar", exact=True).click)
        in_spanish(later, "Su denuncia")
        expect(later.get_by_role("status")).to_have_text(
            "Enviado. La unidad de integridad lo verá."
        )
        expect(messages).to_have_count(2)
        expect(messages.last).to_contain_text("Usted")
        expect(messages.last.locator(".body")).to_have_text(REPLY)
        later.screenshot(path=tmp_path / "status-es.png", full_page=True)


def test_pages_here_run_no_javascript(new_page: NewPage) -> None:
    """The premise of the journey: the contexts have JavaScript off and the tests cannot run any."""
    page = new_page()
    script = "<script>document.getElementById('x').textContent = 'on'</script>"
    page.goto(f"data:text/html,<p id=x>off</p>{script}")
    expect(page.locator("#x")).to_have_text("off")
    with pytest.raises(AssertionError, match="runs JavaScript"):
        page.evaluate("1")
