"""The catalogs are complete: every string the templates use has a reviewed Spanish translation."""

from __future__ import annotations

from pathlib import Path

import pytest
from babel.messages.catalog import Catalog
from babel.messages.extract import extract_from_dir
from babel.messages.frontend import parse_mapping_cfg
from babel.messages.pofile import read_po
from fastapi import Request

from routes.i18n import CATALOG_DIR, SUPPORTED, catalog_path, get_translations, pick_language

ROUTES_DIR = CATALOG_DIR.parent


def extracted_msgids() -> set[str]:
    """What `pybabel extract -F routes/babel.cfg routes` would find, using the same mapping."""
    with (ROUTES_DIR / "babel.cfg").open() as cfg:
        method_map, options_map = parse_mapping_cfg(cfg, "babel.cfg")
    found: set[str] = set()
    for _file, _line, message, _comments, _context in extract_from_dir(
        ROUTES_DIR, method_map, options_map
    ):
        found.update([message] if isinstance(message, str) else message)
    return found


def load(path: Path, lang: str | None = None) -> Catalog:
    with path.open("rb") as po:
        return read_po(po, locale=lang)


@pytest.fixture(scope="module")
def used() -> set[str]:
    msgids = extracted_msgids()
    # Guard against an extractor that silently finds nothing.
    assert {"Make a report", "Page not found", "Language"} <= msgids
    return msgids


def test_every_used_string_has_a_spanish_translation(used: set[str]) -> None:
    catalog = load(catalog_path("es"), "es")
    missing = sorted(
        msgid
        for msgid in used
        if (message := catalog.get(msgid)) is None or not message.string or message.fuzzy
    )
    assert missing == []


def test_every_used_string_is_in_every_catalog(used: set[str]) -> None:
    for lang in SUPPORTED:
        catalog = load(catalog_path(lang), lang)
        assert sorted(used - {m.id for m in catalog if m.id}) == [], lang


def test_template_is_up_to_date_with_the_sources(used: set[str]) -> None:
    template = load(CATALOG_DIR / "messages.pot")
    assert {m.id for m in template if m.id} == used, "run the extract step in docs/i18n.md"


def test_catalogs_hold_no_stale_or_broken_entries(used: set[str]) -> None:
    for lang in SUPPORTED:
        catalog = load(catalog_path(lang), lang)
        assert {m.id for m in catalog if m.id} <= used, f"{lang}: run the update step"
        assert [(m.id, errors) for m, errors in catalog.check()] == [], lang


def test_translations_are_compiled_in_memory() -> None:
    assert get_translations("es").gettext("Make a report") == "Hacer una denuncia"
    assert get_translations("en").gettext("Make a report") == "Make a report"
    assert not list(CATALOG_DIR.rglob("*.mo"))


def test_unsupported_language_is_refused() -> None:
    with pytest.raises(ValueError, match="unsupported"):
        get_translations("fr")


@pytest.mark.parametrize(
    ("query", "lang"),
    [(b"", "en"), (b"lang=es", "es"), (b"lang=en", "en"), (b"lang=ES", "en"), (b"lang=fr", "en")],
)
def test_language_comes_from_the_query_parameter_only(query: bytes, lang: str) -> None:
    scope = {
        "type": "http",
        "method": "GET",
        "path": "/",
        "query_string": query,
        # Neither a cookie nor Accept-Language may switch the language.
        "headers": [(b"accept-language", b"es-MX,es;q=0.9"), (b"cookie", b"lang=es")],
    }
    assert pick_language(Request(scope)) == lang
