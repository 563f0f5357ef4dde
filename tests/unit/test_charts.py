"""Server-side SVG charts: well-formed, accessible, and drawn to scale."""

from __future__ import annotations

import xml.etree.ElementTree as ET

import pytest

from api.dashboard.charts import (
    WAITING_BINS,
    bar_chart,
    bin_counts,
    bin_label,
    grouped_bars,
    histogram,
    line_chart,
    nice_ticks,
    number,
)

SVG = "{http://www.w3.org/2000/svg}"
PX = 0.02  # coordinates are written to 1/100 px


def parse(svg: str) -> ET.Element:
    root = ET.fromstring(svg)  # raises if the SVG is not well-formed XML
    assert root.tag == f"{SVG}svg"
    return root


def bars(root: ET.Element) -> list[ET.Element]:
    return [rect for rect in root.iter(f"{SVG}rect") if rect.get("data-wert") is not None]


def texts(root: ET.Element) -> list[str]:
    return [t.text or "" for t in root.iter(f"{SVG}text")]


def assert_accessible(root: ET.Element, title: str) -> None:
    assert root.get("role") == "img"
    title_el, desc_el = root.find(f"{SVG}title"), root.find(f"{SVG}desc")
    assert title_el is not None and title_el.text == title
    assert desc_el is not None and desc_el.text
    assert root.get("aria-labelledby") == f"{title_el.get('id')} {desc_el.get('id')}"
    assert not list(root.iter(f"{SVG}script"))


def test_bar_chart_is_accessible_svg_with_heights_proportional_to_values() -> None:
    root = parse(bar_chart(["Aachen", "Eschweiler", "Eifel"], [30, 15, 5], title="Fälle"))
    assert_accessible(root, "Fälle")
    heights = [float(rect.get("height", "")) for rect in bars(root)]
    assert heights[0] == pytest.approx(2 * heights[1], abs=PX)
    assert heights[1] == pytest.approx(3 * heights[2], abs=PX)
    assert {"Aachen", "Eschweiler", "Eifel", "30", "15", "5"} <= set(texts(root))
    desc = root.findtext(f"{SVG}desc")
    assert desc == "Säulendiagramm. Aachen: 30; Eschweiler: 15; Eifel: 5."


def test_bars_stand_on_the_zero_line_and_negative_ones_hang_below() -> None:
    root = parse(bar_chart(["a", "b"], [4, -2], title="Abweichung"))
    up, down = bars(root)
    zero_line = [
        line for line in root.iter(f"{SVG}line") if line.get("stroke") == "#1a1a1a"
    ]  # the axis at 0 is drawn dark
    [zero] = zero_line
    zero_y = float(zero.get("y1", ""))
    assert float(up.get("y", "")) + float(up.get("height", "")) == pytest.approx(zero_y, abs=PX)
    assert float(down.get("y", "")) == pytest.approx(zero_y, abs=PX)
    assert float(up.get("height", "")) == pytest.approx(2 * float(down.get("height", "")), abs=PX)


def test_text_is_escaped() -> None:
    root = parse(bar_chart(["<A & B>"], [1], title='Träger "<x>"', desc="a < b"))
    assert root.findtext(f"{SVG}title") == 'Träger "<x>"'
    assert root.findtext(f"{SVG}desc") == "a < b"
    assert "<A & B>" in texts(root)


def test_histogram_counts_into_inclusive_bins() -> None:
    assert [bin_label(low, high) for low, high in WAITING_BINS] == [
        "0–7",
        "8–14",
        "15–21",
        "22–42",
        "43–70",
        "71–140",
        "> 140",
    ]
    values = [0, 7, 8, 14, 15, 21.5, 22, 42, 43, 70, 71, 140, 141, 400]
    assert bin_counts(values, WAITING_BINS) == [2, 2, 2, 2, 2, 2, 2]
    assert bin_counts([-1], WAITING_BINS) == [0] * 7

    root = parse(histogram([1, 2, 3, 10, 200], title="Wartezeit"))
    assert_accessible(root, "Wartezeit")
    assert [float(r.get("data-wert", "")) for r in bars(root)] == [3, 1, 0, 0, 0, 0, 1]
    heights = [float(r.get("height", "")) for r in bars(root)]
    assert heights[0] == pytest.approx(3 * heights[1], abs=PX) and heights[2] == 0
    assert "0–7 Tage: 3 Fälle" in (root.findtext(f"{SVG}desc") or "")


def test_grouped_bars_draw_each_series_per_category_with_a_legend() -> None:
    svg = grouped_bars(
        ["Jan", "Feb", "Mär"],
        {"Soll": [35.0, 35.0, 35.0], "Ist": [38.0, 32.0, 17.5]},
        title="Soll und Ist",
        unit="Eintritte",
    )
    root = parse(svg)
    assert_accessible(root, "Soll und Ist")
    series = {g.get("data-reihe"): g for g in root.iter(f"{SVG}g") if g.get("data-reihe")}
    assert list(series) == ["Soll", "Ist"]
    soll = [float(r.get("height", "")) for r in bars(series["Soll"])]
    ist = [float(r.get("height", "")) for r in bars(series["Ist"])]
    assert ist[0] / soll[0] == pytest.approx(38 / 35, rel=1e-3)
    assert ist[2] / soll[2] == pytest.approx(0.5, rel=1e-3)
    # side by side within each month, the second series hatched (not colour alone)
    assert float(bars(series["Soll"])[0].get("x", "")) < float(bars(series["Ist"])[0].get("x", ""))
    assert "url(#" in (bars(series["Ist"])[0].get("fill") or "")
    assert {"Soll", "Ist", "Jan", "Feb", "Mär", "17,5"} <= set(texts(root))
    desc = root.findtext(f"{SVG}desc") or ""
    assert "Jan: Soll 35 Eintritte, Ist 38 Eintritte" in desc


def test_grouped_bars_refuse_series_of_the_wrong_length() -> None:
    with pytest.raises(ValueError, match="Reihe 'Ist'"):
        grouped_bars(["Jan", "Feb"], {"Soll": [1, 2], "Ist": [1]}, title="x")


def test_line_chart_has_a_line_and_labelled_points_per_series() -> None:
    root = parse(
        line_chart(
            ["Jan", "Feb", "Mär"],
            {"in Beratung": [2, 3, 4], "abgeschlossen": [0, 1, 1]},
            title="Fälle nach Zustand",
        )
    )
    assert_accessible(root, "Fälle nach Zustand")
    lines = list(root.iter(f"{SVG}polyline"))
    assert len(lines) == 2
    assert lines[0].get("stroke-dasharray") is None and lines[1].get("stroke-dasharray")
    ys = [float(p.split(",")[1]) for p in (lines[0].get("points") or "").split()]
    assert ys[0] > ys[1] > ys[2]  # rising values are drawn higher up
    assert (ys[0] - ys[1]) == pytest.approx(ys[1] - ys[2], abs=PX)
    assert {"in Beratung", "abgeschlossen", "Jan", "4"} <= set(texts(root))
    assert "in Beratung: Jan 2, Feb 3, Mär 4." in (root.findtext(f"{SVG}desc") or "")


def test_empty_charts_say_so() -> None:
    for svg in (
        bar_chart([], [], title="Leer"),
        line_chart([], {}, title="Leer"),
        grouped_bars(["Jan"], {}, title="Leer"),
    ):
        root = parse(svg)
        assert_accessible(root, "Leer")
        assert "Keine Daten" in texts(root)


def test_two_charts_on_a_page_get_different_ids() -> None:
    first = parse(bar_chart(["a"], [1], title="Eins"))
    second = parse(bar_chart(["a"], [1], title="Zwei"))
    assert first.get("aria-labelledby") != second.get("aria-labelledby")
    named = parse(bar_chart(["a"], [1], title="Eins", chart_id="wartezeit"))
    assert named.get("aria-labelledby") == "wartezeit-titel wartezeit-beschreibung"


def test_axis_ticks_are_round_and_cover_the_values() -> None:
    assert nice_ticks(0, 38, integer=True) == [0, 10, 20, 30, 40]
    assert nice_ticks(0, 2, integer=True) == [0, 1, 2]
    assert nice_ticks(-2, 5, integer=True) == [-2, 0, 2, 4, 6]
    assert nice_ticks(0, 0.9) == [0, 0.25, 0.5, 0.75, 1.0]
    assert nice_ticks(0, 0) == [0, 0.25, 0.5, 0.75, 1.0]
    assert (number(2.0), number(2.5), number(-1)) == ("2", "2,5", "-1")
