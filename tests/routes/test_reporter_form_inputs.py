"""The tip form: no autofill history of what a reporter typed, and control characters refused
beside the field they were in, with nothing stored."""

from __future__ import annotations

from fastapi.testclient import TestClient
from sqlalchemy import Engine

from service.tips.models import Tip
from tests.routes.reporter_pages_util import count, report_form, send_report

SENSITIVE = (
    "narrative",
    "incident_date",
    "location",
    "contact",
    *(f"subject_{part}_{slot}" for slot in (1, 2, 3) for part in ("name", "badge", "rank", "unit")),
)


def test_sensitive_fields_turn_browser_autofill_off(web: TestClient) -> None:
    for lang in ("en", "es"):
        form = report_form(web, lang)
        controls = {c.attrs["name"]: c for c in form.named()}
        assert set(SENSITIVE) <= set(controls)
        for name in SENSITIVE:
            assert controls[name].attrs.get("autocomplete") == "off", name
        typed = [c for c in form.named() if c.tag == "textarea" or c.attrs.get("type") == "text"]
        assert all(c.attrs.get("autocomplete") == "off" for c in typed)


def test_a_nul_in_a_field_is_marked_beside_it_and_nothing_is_stored(
    web: TestClient, engine: Engine
) -> None:
    for field, group in (("location", "location"), ("subject_badge_1", "subject_1")):
        response = send_report(web, **{field: "44\x0071"})
        assert response.status_code == 422, response.text[:300]
        assert f'id="{group}-error"' in response.text
        assert "control characters" in response.text
    assert count(engine, Tip) == 0


def test_a_line_break_in_a_one_line_field_is_refused_with_the_text_kept(
    web: TestClient, engine: Engine
) -> None:
    response = send_report(web, location="Ysleta\nbridge")
    assert response.status_code == 422
    assert 'id="location-error"' in response.text
    assert "Canary narrative" in response.text  # the reporter's text is kept
    assert count(engine, Tip) == 0
