"""Helpers for the reporter page tests: read forms like a browser would, build files, count rows."""

from __future__ import annotations

import io
import re
from dataclasses import dataclass, field
from html.parser import HTMLParser

from fastapi.testclient import TestClient
from httpx2 import Response
from PIL import Image, PngImagePlugin
from sqlalchemy import Engine, func, select

from service.config import Settings
from service.db import make_session_factory
from service.instance.context import InstanceContext, load_context
from service.tips.models import Attachment, Message, Tip

RECEIPT = re.compile(r"(?:[0-9A-Z]{4}-){7}[0-9A-Z]{4}")
CANARY_TEXT = "Canary narrative: the sergeant at the Ysleta bridge takes cash from trucks."


@dataclass
class Control:
    tag: str
    attrs: dict[str, str]


@dataclass
class Form:
    action: str
    method: str
    enctype: str
    controls: list[Control] = field(default_factory=list)

    def value(self, name: str) -> str:
        return next(c.attrs.get("value", "") for c in self.controls if c.attrs.get("name") == name)

    def named(self) -> list[Control]:
        return [c for c in self.controls if c.attrs.get("name")]


class _Forms(HTMLParser):
    def __init__(self) -> None:
        super().__init__()
        self.forms: list[Form] = []

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        values = {name: value or "" for name, value in attrs}
        if tag == "form":
            self.forms.append(
                Form(values.get("action", ""), values.get("method", ""), values.get("enctype", ""))
            )
        elif tag in ("input", "select", "textarea", "button") and self.forms:
            self.forms[-1].controls.append(Control(tag, values))


def forms(html: str) -> list[Form]:
    parser = _Forms()
    parser.feed(html)
    return parser.forms


def png_with_metadata() -> bytes:
    info = PngImagePlugin.PngInfo()
    info.add_text("Author", "Canary Photographer")
    out = io.BytesIO()
    Image.new("RGB", (16, 16), (200, 30, 30)).save(out, format="PNG", pnginfo=info)
    return out.getvalue()


def jpeg_with_exif() -> bytes:
    exif = Image.Exif()
    exif[0x010F] = "CanaryCam"  # Make
    out = io.BytesIO()
    Image.new("RGB", (16, 16), (30, 30, 200)).save(out, format="JPEG", exif=exif.tobytes())
    return out.getvalue()


Files = dict[str, tuple[str, bytes, str]]
NO_FILE: Files = {"files": ("", b"", "application/octet-stream")}  # a browser's "no file"


def report_data(form: Form, **overrides: object) -> dict[str, object]:
    """A complete, valid submission of the tip form (text fields only)."""
    data: dict[str, object] = {
        "nonce": form.value("nonce"),
        "csrf": form.value("csrf"),
        "agency": "el-paso-pd",
        "allegations": ["bribery", "leaking"],
        "narrative": CANARY_TEXT,
        "incident_date": "October 2026",
        "location": "Ysleta port of entry",
        "subject_name_1": "Juan Ramírez",
        "subject_badge_1": "4471",
        "subject_rank_1": "Sgt",
        "subject_unit_1": "Bridge Unit 3",
        "threat_to_life": "1",
        "contact": "",
        "website": "",
        "remove_metadata_present": "1",
        "remove_metadata": "1",
    }
    data.update(overrides)
    return {k: v for k, v in data.items() if v is not None}


def report_form(client: TestClient, lang: str = "en") -> Form:
    response = client.get(f"/report?lang={lang}")
    assert response.status_code == 200
    return forms(response.text)[0]


def send_report(client: TestClient, **overrides: object) -> Response:
    """Fill in a fresh form (see `report_data`) and send it to /report with no file; the answer."""
    form = report_form(client)
    return client.post("/report", data=report_data(form, **overrides), files=NO_FILE)


def submit(
    client: TestClient,
    lang: str = "en",
    files: Files | None = None,
    **overrides: object,
) -> tuple[Form, str]:
    """Fill in the form and send it; return the form and the receipt."""
    form = report_form(client, lang)
    response = client.post(
        f"/report?lang={lang}", data=report_data(form, **overrides), files=files or NO_FILE
    )
    assert response.status_code == 201, response.text
    return form, receipt_in(response.text)


def receipt_in(html: str) -> str:
    """The receipt as the page shows it (groups in spans), read back as text."""
    shown = re.search(r'<p class="receipt">(.*?)</p>', html, re.DOTALL)
    assert shown is not None
    text = re.sub(r"<[^>]+>", "", shown.group(1))
    assert RECEIPT.fullmatch(text), text
    return text


def count(engine: Engine, model: type[Tip] | type[Attachment] | type[Message]) -> int:
    with make_session_factory(engine)() as session:
        return session.scalar(select(func.count()).select_from(model)) or 0


def context_of(engine: Engine, settings: Settings) -> InstanceContext:
    with make_session_factory(engine)() as session:
        return load_context(session, settings)
