"""The server-side SVG charts: well-formed, accessible, escaped, and sane when empty."""

from __future__ import annotations

import xml.etree.ElementTree as ET

import pytest

from routes.svg import Point, bar_chart, step_chart

NS = "{http://www.w3.org/2000/svg}"
HOSTILE = '<script>alert("x")</script>&amp;\' onload="x'
CHARTS = [bar_chart, step_chart]


def parse(markup: str) -> ET.Element:
    return ET.fromstring(str(markup))  # noqa: S314  (our own output)


def child(root: ET.Element, tag: str) -> ET.Element:
    found = root.find(f"{NS}{tag}")
    assert found is not None, tag
    return found


@pytest.mark.parametrize("chart", CHARTS)
def test_labels_titles_and_ids_are_escaped(chart):
    svg = chart(
        [Point(HOSTILE, 3), Point("b", None, HOSTILE)],
        chart_id='x" onload="y',
        title=HOSTILE,
        description=HOSTILE,
    )
    text = str(svg)
    assert "<script" not in text
    assert 'onload="' not in text
    root = parse(text)  # still well-formed XML
    assert child(root, "title").text == HOSTILE  # the reader sees the text as written
    assert child(root, "desc").text == HOSTILE
    assert any(HOSTILE in (t.text or "") for t in root.iter(f"{NS}title"))


@pytest.mark.parametrize("chart", CHARTS)
def test_chart_is_an_accessible_image(chart):
    root = parse(chart([Point("2026-W01", 2)], chart_id="c1", title="T", description="D"))
    assert root.get("role") == "img"
    assert root.get("aria-labelledby") == "c1-title c1-desc"
    assert child(root, "title").get("id") == "c1-title"
    assert child(root, "desc").get("id") == "c1-desc"
    assert "style" not in str(chart([Point("a", 1)], chart_id="c", title="t", description="d"))


@pytest.mark.parametrize("chart", CHARTS)
def test_empty_series_says_so(chart):
    root = parse(chart([], chart_id="e", title="T", description="D", empty_text="Nothing <yet>"))
    texts = [t.text for t in root.iter(f"{NS}text")]
    assert texts == ["Nothing <yet>"]
    assert "empty" in (root.get("class") or "")


@pytest.mark.parametrize("chart", CHARTS)
def test_all_zero_series_draws_without_dividing_by_zero(chart):
    root = parse(chart([Point("a", 0), Point("b", 0)], chart_id="z", title="T", description="D"))
    assert root.get("role") == "img"


def test_bar_heights_follow_the_values():
    root = parse(
        bar_chart([Point("a", 5), Point("b", 10)], chart_id="b", title="T", description="D")
    )
    heights = [float(r.get("height") or "nan") for r in root.iter(f"{NS}rect")]
    assert heights[1] == pytest.approx(2 * heights[0])


def test_hidden_values_show_their_label_and_break_the_step_line():
    points = [Point("w1", 4), Point("w2", None, "<3"), Point("w3", 5), Point("w4", 6)]
    root = parse(step_chart(points, chart_id="s", title="T", description="D"))
    lines = list(root.iter(f"{NS}polyline"))
    assert len(lines) == 2  # one run before the hidden week, one after
    hidden = [t for t in root.iter(f"{NS}text") if t.get("class") == "hidden-cell"]
    assert ["".join(t.itertext()).endswith("<3") for t in hidden] == [True]
    bars = parse(bar_chart(points, chart_id="b", title="T", description="D"))
    assert len(list(bars.iter(f"{NS}rect"))) == 3  # no bar for the hidden week
