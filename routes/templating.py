"""Server-rendered pages: one Jinja2 environment per language, built once when the app is created.

Templates live in `routes/templates/` (autoescaped, `jinja2.ext.i18n` with trimmed `{% trans %}`
blocks). Every template sees `lang`, `languages`, `current_path`, `url(path)` (an internal link in
the page's language) and `lang_url(path, lang)`.

Imports Jinja2, Starlette and `routes.i18n`.
"""

from __future__ import annotations

from collections.abc import Collection, Mapping
from functools import partial
from pathlib import Path
from typing import Annotated, Any, cast
from urllib.parse import parse_qsl, quote, urlencode, urlsplit, urlunsplit

import jinja2
from fastapi import Depends, Request
from fastapi.responses import HTMLResponse, RedirectResponse

from routes.i18n import LANGUAGE_NAMES, SUPPORTED, get_translations, pick_language
from service.tips.taxonomy import Allegation, label

__all__ = [
    "TEMPLATE_DIR",
    "Pages",
    "PagesDep",
    "get_pages",
    "lang_url",
    "notice_of",
    "safe_path",
    "see_other",
]

TEMPLATE_DIR = Path(__file__).resolve().parent / "templates"
# Characters a path keeps as they are; everything else (controls, spaces, backslashes) is encoded.
_PATH_SAFE = "/-._~!$&'()*+,;=:@%"


def lang_url(path: str, lang: str) -> str:
    """An internal link that carries the language: `/report` -> `/report?lang=es`.

    Other query parameters are kept and an existing `lang` is replaced. Raises `ValueError` for
    anything that is not a same-site path, so a template cannot build an external link by mistake.
    """
    if lang not in SUPPORTED:
        raise ValueError(f"unsupported language {lang!r}")
    parts = urlsplit(path)
    if parts.scheme or parts.netloc or not parts.path.startswith("/"):
        raise ValueError("lang_url takes a path on this site")
    clean_path = quote(parts.path, safe=_PATH_SAFE)
    if clean_path.startswith("//"):
        raise ValueError("lang_url takes a path on this site")
    query = [(k, v) for k, v in parse_qsl(parts.query, keep_blank_values=True) if k != "lang"]
    query.append(("lang", lang))
    return urlunsplit(("", "", clean_path, urlencode(query), parts.fragment))


def safe_path(path: str) -> str:
    """The request path when it is safe to link back to, else `/` (e.g. `//host` on a 404 page)."""
    clean = quote(path, safe=_PATH_SAFE)
    if not clean.startswith("/") or clean.startswith("//"):
        return "/"
    return clean


def _allegation_label(code: str, lang: str) -> str:
    """A taxonomy code's label in the page's language (the code itself if unknown)."""
    try:
        return label(Allegation(code), lang)
    except ValueError:
        return code


def _environment(directory: Path, lang: str) -> jinja2.Environment:
    env = jinja2.Environment(
        loader=jinja2.FileSystemLoader(directory),
        autoescape=True,
        undefined=jinja2.StrictUndefined,
        extensions=["jinja2.ext.i18n"],
        trim_blocks=True,
        lstrip_blocks=True,
    )
    # Collapse whitespace inside {% trans %} so msgids do not depend on indentation.
    env.policies["ext.i18n.trimmed"] = True
    # Added at runtime by the i18n extension, hence unknown to the type checker.
    env.install_gettext_translations(  # type: ignore[attr-defined]
        get_translations(lang), newstyle=True
    )
    env.globals.update(
        lang=lang,
        languages=[(code, LANGUAGE_NAMES[code]) for code in SUPPORTED],
        lang_url=lang_url,
        url=partial(lang_url, lang=lang),
        allegation_label=partial(_allegation_label, lang=lang),
    )
    return env


class Pages:
    """Renders templates in the request's language."""

    def __init__(self, directory: Path = TEMPLATE_DIR) -> None:
        self._environments = {lang: _environment(directory, lang) for lang in SUPPORTED}

    def environment(self, lang: str) -> jinja2.Environment:
        return self._environments[lang]

    def render(
        self,
        request: Request,
        name: str,
        context: Mapping[str, Any] | None = None,
        *,
        status_code: int = 200,
        headers: Mapping[str, str] | None = None,
    ) -> HTMLResponse:
        lang = pick_language(request)
        template = self._environments[lang].get_template(name)
        # `page_context`: set by request dependencies (the staff sign-in adds the nav's `staff`).
        extra = getattr(request.state, "page_context", None) or {}
        base = {"current_path": safe_path(request.url.path), **extra}
        html = template.render({**base, **(context or {})})
        return HTMLResponse(html, status_code=status_code, headers=headers)


async def get_pages(request: Request) -> Pages:
    """Dependency: the renderer built by `create_app` (async, so no worker thread is used)."""
    return cast(Pages, request.app.state.pages)


PagesDep = Annotated[Pages, Depends(get_pages)]


def see_other(request: Request, path: str) -> RedirectResponse:
    """The answer to a page's form post: 303 to `path`, in the page's language."""
    return RedirectResponse(lang_url(path, pick_language(request)), status_code=303)


def notice_of(request: Request, notices: Collection[str]) -> str | None:
    """The page's `?notice=`, only when on its closed list, so the URL cannot inject text."""
    notice = request.query_params.get("notice")
    return notice if notice in notices else None
