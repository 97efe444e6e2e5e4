"""Languages and message catalogs for pages (English and Spanish).

Catalogs live beside this module in `i18n/<lang>/LC_MESSAGES/messages.po` (template:
`i18n/messages.pot`). They are parsed and compiled in memory on first use, so no `.mo` binaries are
committed and there is no build step. The language comes from the `lang` query parameter only: no
cookie, no header sniffing. The workflow for adding a string is in `docs/i18n.md`.

Imports only Babel and Starlette's request type.
"""

from __future__ import annotations

from functools import cache
from io import BytesIO
from pathlib import Path

from babel.messages.mofile import write_mo
from babel.messages.pofile import read_po
from babel.support import Translations
from starlette.requests import Request

__all__ = [
    "CATALOG_DIR",
    "DEFAULT",
    "LANGUAGE_NAMES",
    "SUPPORTED",
    "catalog_path",
    "get_translations",
    "pick_language",
]

SUPPORTED = ("en", "es")
DEFAULT = "en"
# Each language named in itself, for the switch link.
LANGUAGE_NAMES = {"en": "English", "es": "Español"}
CATALOG_DIR = Path(__file__).resolve().parent / "i18n"
DOMAIN = "messages"


def catalog_path(lang: str) -> Path:
    return CATALOG_DIR / lang / "LC_MESSAGES" / f"{DOMAIN}.po"


@cache
def get_translations(lang: str) -> Translations:
    """Compiled translations for a supported language; `ValueError` for any other."""
    if lang not in SUPPORTED:
        raise ValueError(f"unsupported language {lang!r}")
    with catalog_path(lang).open("rb") as po:
        catalog = read_po(po, locale=lang, domain=DOMAIN)
    compiled = BytesIO()
    # Fuzzy entries are unreviewed guesses: they fall back to English rather than show.
    write_mo(compiled, catalog, use_fuzzy=False)
    compiled.seek(0)
    return Translations(fp=compiled, domain=DOMAIN)


def pick_language(request: Request) -> str:
    """The `lang` query parameter when it names a supported language, else English."""
    lang = request.query_params.get("lang", DEFAULT)
    return lang if lang in SUPPORTED else DEFAULT
