from __future__ import annotations

from html.parser import HTMLParser
from urllib.parse import parse_qs, urlsplit

import pytest
from fastapi import FastAPI
from fastapi.testclient import TestClient

from routes.templating import TEMPLATE_DIR, lang_url, safe_path

ROUTES_DIR = TEMPLATE_DIR.parent


class _Links(HTMLParser):
    def __init__(self) -> None:
        super().__init__()
        self.hrefs: list[str] = []
        self.tags: set[str] = set()
        self.styled = False

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        self.tags.add(tag)
        self.styled = self.styled or any(name == "style" for name, _ in attrs)
        if tag == "a":
            self.hrefs += [value or "" for name, value in attrs if name == "href"]


def parse(html: str) -> _Links:
    links = _Links()
    links.feed(html)
    return links


def test_landing_in_english(client: TestClient) -> None:
    response = client.get("/")
    assert response.status_code == 200
    html = response.text
    assert '<html lang="en">' in html
    assert "Report police misconduct safely" in html
    assert 'href="/?lang=es"' in html  # the switch
    for phrase in ("Tor Browser", "work or agency network", "receipt", "metadata", "IP address"):
        assert phrase in html


def test_landing_in_spanish(client: TestClient) -> None:
    html = client.get("/?lang=es").text
    assert '<html lang="es">' in html
    assert "Denuncie de forma segura conductas indebidas de la policía" in html
    assert "No le cuente a nadie que hizo una denuncia." in html
    assert 'href="/?lang=en"' in html
    assert "Report police misconduct" not in html


def test_unknown_language_falls_back_to_english(client: TestClient) -> None:
    assert '<html lang="en">' in client.get("/?lang=xx").text


@pytest.mark.parametrize(("lang", "other"), [("en", "es"), ("es", "en")])
def test_every_internal_link_carries_the_language(
    client: TestClient, lang: str, other: str
) -> None:
    links = parse(client.get(f"/?lang={lang}").text)
    assert {"/report", "/status"} <= {urlsplit(href).path for href in links.hrefs}
    languages = []
    for href in links.hrefs:
        parts = urlsplit(href)
        assert not parts.scheme, href
        assert not parts.netloc, href
        assert parts.path.startswith("/"), href
        languages.append(parse_qs(parts.query).get("lang"))
    # Every link stays in the page's language except the one switch to the other language.
    assert languages.count([other]) == 1
    assert languages.count([lang]) == len(languages) - 1
    assert f"/?lang={other}" in links.hrefs


def test_the_switch_keeps_the_current_path(client: TestClient) -> None:
    links = parse(client.get("/some/where?lang=es").text)
    assert "/some/where?lang=en" in links.hrefs


def test_the_switch_never_points_off_site(client: TestClient) -> None:
    # Decoded, this path is //evil.example, which a browser would read as another host.
    links = parse(client.get("/%2F%2Fevil.example?lang=es").text)
    assert links.hrefs
    assert all(h.startswith("/") and not h.startswith("//") for h in links.hrefs)


@pytest.mark.parametrize("path", ["/", "/?lang=es", "/nowhere", "/nowhere?lang=es", "/boom"])
def test_pages_have_no_script_and_no_inline_style(app: FastAPI, path: str) -> None:
    def boom() -> None:
        raise RuntimeError("x")

    app.add_api_route("/boom", boom)
    with TestClient(app) as client:
        html = client.get(path).text
    links = parse(html)
    assert "<script" not in html.lower()
    assert "script" not in links.tags
    assert "style" not in links.tags
    assert not links.styled


def test_templates_and_static_files_hold_no_script_or_inline_style() -> None:
    for path in sorted(TEMPLATE_DIR.rglob("*.html")):
        text = path.read_text().lower()
        assert "<script" not in text, path
        assert "<style" not in text, path
        assert "style=" not in text, path
        assert "javascript:" not in text, path
        assert "://" not in text, path  # no external assets or links
    static = [p for p in (ROUTES_DIR / "static").rglob("*") if p.is_file()]
    assert static
    assert all(p.suffix in {".css", ".svg", ".png", ".ico"} for p in static), static


def test_stylesheet_is_served(client: TestClient) -> None:
    response = client.get("/static/style.css")
    assert response.status_code == 200
    assert response.headers["content-type"].startswith("text/css")
    assert "@import" not in response.text
    assert "url(" not in response.text


@pytest.mark.parametrize(
    ("path", "lang", "url"),
    [
        ("/", "es", "/?lang=es"),
        ("/report", "en", "/report?lang=en"),
        ("/status?x=1&lang=en", "es", "/status?x=1&lang=es"),
        ("/status#receipt", "es", "/status?lang=es#receipt"),
        ("/a b", "es", "/a%20b?lang=es"),
    ],
)
def test_lang_url_builds_internal_links(path: str, lang: str, url: str) -> None:
    assert lang_url(path, lang) == url


@pytest.mark.parametrize(
    ("path", "lang"),
    [("https://evil.example/", "en"), ("//evil.example", "en"), ("report", "en"), ("/", "fr")],
)
def test_lang_url_refuses_anything_but_site_paths(path: str, lang: str) -> None:
    with pytest.raises(ValueError, match=r"lang_url|language"):
        lang_url(path, lang)


@pytest.mark.parametrize(
    ("path", "safe"),
    [
        ("/report", "/report"),
        ("//evil.example", "/"),
        ("/\\evil.example", "/%5Cevil.example"),
        ("/\n/evil.example", "/%0A/evil.example"),
        ("relative", "/"),
    ],
)
def test_safe_path_neutralises_hostile_paths(path: str, safe: str) -> None:
    assert safe_path(path) == safe


def test_routes_never_mention_client_identifying_request_data() -> None:
    # Mirrors the repository check; spelled in pieces so this file does not trip it.
    forbidden = [
        "request." + "client",
        "remote_" + "addr",
        "x-forwarded-" + "for",
        "user" + "-agent",
        "user" + "_agent",
    ]
    sources = [*ROUTES_DIR.rglob("*.py"), *ROUTES_DIR.rglob("*.html")]
    sources.append(ROUTES_DIR.parent / "service" / "logging.py")
    for source in sources:
        text = source.read_text().lower()
        assert not [word for word in forbidden if word in text], source
