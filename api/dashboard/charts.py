"""Server-side SVG charts for the dashboard: pure functions from numbers to an SVG string.

No JavaScript, no external assets; the SVG is inlined into the page (``{{ chart }}``).
Every chart is a ``markupsafe.Markup`` built only from escaped parts: each text (title,
description, labels, legend, tooltips) goes through ``escape``, each attribute value
through ``quoteattr`` or is a number, a constant or a sanitised id. So a provider's name or
a site typed by a user cannot add markup, and templates need no ``|safe``.
Accessible by construction:

* ``<svg role="img" aria-labelledby="…">`` with a ``<title>`` (the chart's heading) and a
  ``<desc>`` that states every value in words (generated unless one is given), so a screen
  reader gets the data, not "image";
* every axis tick, category, legend entry and (where there is room) bar or point value is
  real ``<text>``; each bar and point carries its own ``<title>`` as a tooltip;
* series differ by more than colour: solid vs hatched bars, dashed lines and marker shapes;
  the colours have at least 3:1 contrast on white.

Public functions, all keyword-only after the data:

* `bar_chart(labels, values, *, title, …)`: one series of bars.
* `histogram(values, bins=WAITING_BINS, *, title, …)`: counts `values` into inclusive
  ``(low, high)`` bins (``high=None``: open-ended) and draws them with `bar_chart`.
* `line_chart(labels, series, *, title, …)`: one line per series over the same x labels.
* `grouped_bars(categories, series, *, title, …)`: a group of bars per category, one bar
  per series, e.g. Soll vs Ist per month::

      grouped_bars(["Jan", "Feb"], {"Soll": [35, 35], "Ist": [30, 41]},
                   title="Soll und Ist 2026, Aachen", unit="Eintritte")

  ``series`` maps the legend name to one value per category (same length as
  ``categories``; ``dict`` order is legend and bar order). Negative values are drawn
  below the zero line.

Common keyword arguments: ``desc`` (overrides the generated description), ``unit`` (said
after values in the description, e.g. "Fälle"), ``y_label`` (axis caption), ``width`` and
``height`` (the viewBox; the SVG scales with CSS), ``chart_id`` (prefix of the element ids;
derived from the content when omitted, so two charts on a page do not clash).
"""

from __future__ import annotations

import hashlib
import math
import re
from collections.abc import Mapping, Sequence
from xml.sax.saxutils import escape, quoteattr

from markupsafe import Markup

from models.german import zahl

COLOURS = ("#0b4f8a", "#b35000", "#2e7d32", "#6a3d9a", "#8a1c0b")
DASHES = ("", "6 3", "2 3", "8 3 2 3", "1 2")
MARKERS = ("circle", "square", "triangle", "diamond", "circle")
TEXT = "#1a1a1a"
GRID = "#c8c8c8"

#: Days from voucher to first appointment (providers page): inclusive bins, last open-ended.
WAITING_BINS: tuple[tuple[int, int | None], ...] = (
    (0, 7),
    (8, 14),
    (15, 21),
    (22, 42),
    (43, 70),
    (71, 140),
    (141, None),
)

_LEFT, _RIGHT, _TOP, _BOTTOM = 56.0, 16.0, 16.0, 44.0
_LEGEND = 26.0


# --- numbers ---------------------------------------------------------------------------------


def number(value: float) -> str:
    """German display of a chart value: whole numbers without decimals, else one (``2,5``)."""
    return zahl(value, 0 if float(value).is_integer() else 1)


def _c(value: float) -> str:
    """A coordinate, short."""
    text = f"{value:.2f}".rstrip("0").rstrip(".")
    return "0" if text in ("", "-0") else text


def nice_ticks(low: float, high: float, count: int = 4, *, integer: bool = False) -> list[float]:
    """Evenly spaced, round axis ticks from <= min(low, 0) to >= max(high, 0)."""
    low, high = min(low, 0.0), max(high, 0.0)
    if high == low:
        high = low + 1
    raw = (high - low) / count
    magnitude = 10 ** math.floor(math.log10(raw))
    factors = (1, 2, 5, 10) if integer else (1, 2, 2.5, 5, 10)
    step = next(f * magnitude for f in factors if f * magnitude >= raw - 1e-12)
    if integer:
        step = max(step, 1.0)
    first = math.floor(low / step + 1e-9) * step
    last = math.ceil(high / step - 1e-9) * step
    steps = round((last - first) / step)
    return [round(first + i * step, 10) for i in range(steps + 1)]


def bin_label(low: int, high: int | None) -> str:
    """``0–7`` or ``> 140`` (the label of an inclusive bin)."""
    return f"> {low - 1}" if high is None else f"{low}–{high}"


def bin_counts(values: Sequence[float], bins: Sequence[tuple[int, int | None]]) -> list[int]:
    """How many `values` fall into each inclusive ``(low, high)`` bin; others are ignored.

    Fractional values belong to the bin whose range contains them after rounding down.
    """
    counts = [0] * len(bins)
    for value in values:
        whole = math.floor(value)
        for i, (low, high) in enumerate(bins):
            if whole >= low and (high is None or whole <= high):
                counts[i] += 1
                break
    return counts


# --- SVG pieces ------------------------------------------------------------------------------


def _chart_id(chart_id: str | None, *parts: object) -> str:
    """The prefix of the element ids: `chart_id` reduced to ``[A-Za-z0-9_-]``, or a digest."""
    if chart_id:
        return re.sub(r"[^A-Za-z0-9_-]", "-", chart_id)
    digest = hashlib.sha1(repr(parts).encode("utf-8")).hexdigest()[:8]
    return f"diagramm-{digest}"


def _text(x: float, y: float, content: str, *, anchor: str = "middle", **attrs: str) -> str:
    extra = "".join(f" {k.replace('_', '-')}={quoteattr(v)}" for k, v in attrs.items())
    return (
        f'<text x="{_c(x)}" y="{_c(y)}" text-anchor="{anchor}" fill="{TEXT}"{extra}>'
        f"{escape(content)}</text>"
    )


def _open(cid: str, width: int, height: int, title: str, desc: str, kind: str) -> list[str]:
    return [
        f'<svg xmlns="http://www.w3.org/2000/svg" class="diagramm diagramm-{kind}" role="img" '
        f'width="{width}" height="{height}" viewBox="0 0 {width} {height}" '
        f'aria-labelledby="{cid}-titel {cid}-beschreibung">',
        f'<title id="{cid}-titel">{escape(title)}</title>',
        f'<desc id="{cid}-beschreibung">{escape(desc)}</desc>',
    ]


def _patterns(cid: str, count: int) -> str:
    """Fills per series: solid for the first, hatched (two directions) for the others."""
    defs = []
    for i in range(1, count):
        colour = COLOURS[i % len(COLOURS)]
        angle = 45 if i % 2 else -45
        defs.append(
            f'<pattern id="{cid}-fuellung-{i}" patternUnits="userSpaceOnUse" width="6" '
            f'height="6" patternTransform="rotate({angle})">'
            f'<rect width="6" height="6" fill="{colour}"/>'
            f'<line x1="0" y1="0" x2="0" y2="6" stroke="#ffffff" stroke-width="2.5"/>'
            "</pattern>"
        )
    return f"<defs>{''.join(defs)}</defs>" if defs else ""


def _fill(cid: str, index: int) -> str:
    return COLOURS[0] if index == 0 else f"url(#{cid}-fuellung-{index})"


class _Frame:
    """Plot area and value axis of a chart."""

    def __init__(
        self,
        width: int,
        height: int,
        values: Sequence[float],
        *,
        legend: bool,
        y_label: str,
    ) -> None:
        self.width, self.height = width, height
        self.top = _TOP + (_LEGEND if legend else 0.0) + (14.0 if y_label else 0.0)
        self.left, self.right = _LEFT, width - _RIGHT
        self.bottom = height - _BOTTOM
        finite = [v for v in values if math.isfinite(v)] or [0.0]
        integer = all(float(v).is_integer() for v in finite)
        self.ticks = nice_ticks(min(finite), max(finite), integer=integer)
        self.low, self.high = self.ticks[0], self.ticks[-1]
        self.y_label = y_label

    @property
    def plot_width(self) -> float:
        return self.right - self.left

    def y(self, value: float) -> float:
        share = (value - self.low) / (self.high - self.low)
        return self.bottom - share * (self.bottom - self.top)

    def axis(self) -> list[str]:
        parts = ['<g class="achse">']
        for tick in self.ticks:
            y = self.y(tick)
            stroke = TEXT if tick == 0 else GRID
            parts.append(
                f'<line x1="{_c(self.left)}" y1="{_c(y)}" x2="{_c(self.right)}" y2="{_c(y)}" '
                f'stroke="{stroke}" stroke-width="1"/>'
            )
            parts.append(_text(self.left - 6, y + 4, number(tick), anchor="end"))
        if self.y_label:
            parts.append(_text(4, self.top - 12, self.y_label, anchor="start"))
        parts.append("</g>")
        return parts

    def categories(self, labels: Sequence[str]) -> list[str]:
        """Category labels under the bands; thinned out when there are many."""
        band = self.plot_width / max(len(labels), 1)
        every = max(1, math.ceil(len(labels) / max(self.plot_width // 56, 1)))
        parts = ['<g class="kategorien">']
        for i, label in enumerate(labels):
            if i % every:
                continue
            x = self.left + band * (i + 0.5)
            parts.append(_text(x, self.bottom + 18, label))
        parts.append("</g>")
        return parts


def _legend(cid: str, names: Sequence[str], *, lines: bool, top: float) -> list[str]:
    parts = ['<g class="legende">']
    x = _LEFT
    for i, name in enumerate(names):
        colour = COLOURS[i % len(COLOURS)]
        y = top + 9
        if lines:
            dash = DASHES[i % len(DASHES)]
            dash_attr = f' stroke-dasharray="{dash}"' if dash else ""
            parts.append(
                f'<line x1="{_c(x)}" y1="{_c(y)}" x2="{_c(x + 22)}" y2="{_c(y)}" '
                f'stroke="{colour}" stroke-width="2.5"{dash_attr}/>'
            )
            parts.append(_marker(MARKERS[i % len(MARKERS)], x + 11, y, colour))
        else:
            parts.append(
                f'<rect x="{_c(x)}" y="{_c(y - 7)}" width="22" height="14" '
                f'fill="{_fill(cid, i)}" stroke="{colour}"/>'
            )
        parts.append(_text(x + 28, y + 4, name, anchor="start"))
        x += 40 + 7.5 * len(name)
    parts.append("</g>")
    return parts


def _marker(shape: str, x: float, y: float, colour: str, tip: str = "") -> str:
    if shape == "square":
        tag = "rect"
        head = f'<rect x="{_c(x - 4)}" y="{_c(y - 4)}" width="8" height="8" fill="{colour}"'
    elif shape == "triangle":
        tag = "polygon"
        points = f"{_c(x)},{_c(y - 5)} {_c(x + 5)},{_c(y + 4)} {_c(x - 5)},{_c(y + 4)}"
        head = f'<polygon points="{points}" fill="{colour}"'
    elif shape == "diamond":
        tag = "polygon"
        points = f"{_c(x)},{_c(y - 5)} {_c(x + 5)},{_c(y)} {_c(x)},{_c(y + 5)} {_c(x - 5)},{_c(y)}"
        head = f'<polygon points="{points}" fill="{colour}"'
    else:
        tag = "circle"
        head = f'<circle cx="{_c(x)}" cy="{_c(y)}" r="4" fill="{colour}"'
    return f"{head}><title>{escape(tip)}</title></{tag}>" if tip else f"{head}/>"


def _with_unit(value: float, unit: str) -> str:
    return f"{number(value)} {unit}".strip()


def _svg(parts: Sequence[str]) -> Markup:
    """The chart as markup: `parts` are built from escaped text and attribute values only."""
    return Markup("\n".join(parts))


def _no_data(cid: str, width: int, height: int, title: str, desc: str, kind: str) -> Markup:
    parts = _open(cid, width, height, title, desc or "Keine Daten.", kind)
    parts.append(_text(width / 2, height / 2, "Keine Daten"))
    parts.append("</svg>")
    return _svg(parts)


def _check_lengths(labels: Sequence[str], series: Mapping[str, Sequence[float]]) -> None:
    for name, values in series.items():
        if len(values) != len(labels):
            raise ValueError(
                f"Reihe {name!r} hat {len(values)} Werte für {len(labels)} Kategorien."
            )


# --- charts ----------------------------------------------------------------------------------


def bar_chart(
    labels: Sequence[str],
    values: Sequence[float],
    *,
    title: str,
    desc: str | None = None,
    unit: str = "",
    y_label: str = "",
    width: int = 640,
    height: int = 280,
    chart_id: str | None = None,
) -> Markup:
    """One bar per label; bar heights are proportional to the values (zero line at 0)."""
    _check_lengths(labels, {"Werte": values})
    cid = _chart_id(chart_id, "bar", title, list(labels), list(values))
    if desc is None:
        listed = "; ".join(
            f"{label}: {_with_unit(v, unit)}" for label, v in zip(labels, values, strict=True)
        )
        desc = f"Säulendiagramm. {listed}." if labels else "Keine Daten."
    if not labels:
        return _no_data(cid, width, height, title, desc, "balken")
    frame = _Frame(width, height, values, legend=False, y_label=y_label)
    parts = _open(cid, width, height, title, desc, "balken")
    parts += frame.axis()
    band = frame.plot_width / len(labels)
    bar = min(band * 0.7, 64.0)
    show_values = bar >= 14
    parts.append('<g class="balken">')
    zero = frame.y(0)
    for i, (label, value) in enumerate(zip(labels, values, strict=True)):
        x = frame.left + band * i + (band - bar) / 2
        top = min(frame.y(value), zero)
        size = abs(frame.y(value) - zero)
        parts.append(
            f'<rect x="{_c(x)}" y="{_c(top)}" width="{_c(bar)}" height="{_c(size)}" '
            f'fill="{COLOURS[0]}" data-wert="{_c(value)}">'
            f"<title>{escape(f'{label}: {_with_unit(value, unit)}')}</title></rect>"
        )
        if show_values:
            label_y = top - 4 if value >= 0 else top + size + 13
            parts.append(_text(x + bar / 2, label_y, number(value)))
    parts.append("</g>")
    parts += frame.categories(labels)
    parts.append("</svg>")
    return _svg(parts)


def histogram(
    values: Sequence[float],
    bins: Sequence[tuple[int, int | None]] = WAITING_BINS,
    *,
    title: str,
    desc: str | None = None,
    unit: str = "Fälle",
    bin_unit: str = "Tage",
    y_label: str = "",
    width: int = 640,
    height: int = 280,
    chart_id: str | None = None,
) -> Markup:
    """Counts `values` into the inclusive `bins` and draws one bar per bin."""
    counts = bin_counts(values, bins)
    labels = [bin_label(low, high) for low, high in bins]
    if desc is None:
        listed = "; ".join(
            f"{label} {bin_unit}: {_with_unit(n, unit)}"
            for label, n in zip(labels, counts, strict=True)
        )
        desc = f"Histogramm über {len(values)} Werte. {listed}."
    return bar_chart(
        labels,
        counts,
        title=title,
        desc=desc,
        unit=unit,
        y_label=y_label,
        width=width,
        height=height,
        chart_id=_chart_id(chart_id, "histogram", title, list(values)),
    )


def grouped_bars(
    categories: Sequence[str],
    series: Mapping[str, Sequence[float]],
    *,
    title: str,
    desc: str | None = None,
    unit: str = "",
    y_label: str = "",
    width: int = 720,
    height: int = 300,
    chart_id: str | None = None,
) -> Markup:
    """Per category a group of bars, one per series (legend in `series` order).

    ``grouped_bars(months, {"Soll": soll, "Ist": ist}, title=…)`` draws Soll (solid) next
    to Ist (hatched) for every month. Every list in `series` has one value per category.
    """
    _check_lengths(categories, series)
    names = list(series)
    cid = _chart_id(
        chart_id, "grouped", title, list(categories), {k: list(v) for k, v in series.items()}
    )
    if desc is None:
        listed = "; ".join(
            f"{category}: "
            + ", ".join(f"{name} {_with_unit(series[name][i], unit)}" for name in names)
            for i, category in enumerate(categories)
        )
        desc = (
            f"Gruppiertes Säulendiagramm ({', '.join(names)}). {listed}."
            if categories and names
            else "Keine Daten."
        )
    if not categories or not names:
        return _no_data(cid, width, height, title, desc, "gruppiert")
    every = [v for values in series.values() for v in values]
    frame = _Frame(width, height, every, legend=True, y_label=y_label)
    parts = _open(cid, width, height, title, desc, "gruppiert")
    parts.append(_patterns(cid, len(names)))
    parts += _legend(cid, names, lines=False, top=_TOP - 6)
    parts += frame.axis()
    band = frame.plot_width / len(categories)
    group = band * 0.8
    bar = min(group / len(names), 48.0)
    group = bar * len(names)
    show_values = bar >= 16
    zero = frame.y(0)
    for s, name in enumerate(names):
        parts.append(f'<g class="reihe" data-reihe={quoteattr(name)}>')
        for i, category in enumerate(categories):
            value = series[name][i]
            x = frame.left + band * i + (band - group) / 2 + bar * s
            top = min(frame.y(value), zero)
            size = abs(frame.y(value) - zero)
            tip = f"{category}, {name}: {_with_unit(value, unit)}"
            parts.append(
                f'<rect x="{_c(x)}" y="{_c(top)}" width="{_c(bar)}" height="{_c(size)}" '
                f'fill="{_fill(cid, s)}" stroke="{COLOURS[s % len(COLOURS)]}" '
                f'data-wert="{_c(value)}"><title>{escape(tip)}</title></rect>'
            )
            if show_values:
                label_y = top - 4 if value >= 0 else top + size + 13
                parts.append(_text(x + bar / 2, label_y, number(value), font_size="10"))
        parts.append("</g>")
    parts += frame.categories(categories)
    parts.append("</svg>")
    return _svg(parts)


def line_chart(
    labels: Sequence[str],
    series: Mapping[str, Sequence[float]],
    *,
    title: str,
    desc: str | None = None,
    unit: str = "",
    y_label: str = "",
    width: int = 720,
    height: int = 300,
    chart_id: str | None = None,
) -> Markup:
    """One line per series over the x `labels`; values written at the points if few."""
    _check_lengths(labels, series)
    names = list(series)
    cid = _chart_id(chart_id, "line", title, list(labels), {k: list(v) for k, v in series.items()})
    if desc is None:
        listed = " ".join(
            f"{name}: "
            + ", ".join(
                f"{label} {_with_unit(v, unit)}" for label, v in zip(labels, values, strict=True)
            )
            + "."
            for name, values in series.items()
        )
        desc = (
            f"Liniendiagramm mit {len(names)} Reihen über {len(labels)} Zeitpunkte. {listed}"
            if labels and names
            else "Keine Daten."
        )
    if not labels or not names:
        return _no_data(cid, width, height, title, desc, "linien")
    every = [v for values in series.values() for v in values]
    frame = _Frame(width, height, every, legend=True, y_label=y_label)
    parts = _open(cid, width, height, title, desc, "linien")
    parts += _legend(cid, names, lines=True, top=_TOP - 6)
    parts += frame.axis()
    band = frame.plot_width / len(labels)
    label_all = len(labels) <= 12
    labelled: set[tuple[int, float]] = set()  # one label where several series meet
    for s, name in enumerate(names):
        colour = COLOURS[s % len(COLOURS)]
        dash = DASHES[s % len(DASHES)]
        points = [(frame.left + band * (i + 0.5), frame.y(v)) for i, v in enumerate(series[name])]
        parts.append(f'<g class="reihe" data-reihe={quoteattr(name)}>')
        dash_attr = f' stroke-dasharray="{dash}"' if dash else ""
        path = " ".join(f"{_c(x)},{_c(y)}" for x, y in points)
        parts.append(
            f'<polyline points="{path}" fill="none" stroke="{colour}" '
            f'stroke-width="2.5"{dash_attr}/>'
        )
        for i, ((x, y), value) in enumerate(zip(points, series[name], strict=True)):
            tip = f"{labels[i]}, {name}: {_with_unit(value, unit)}"
            parts.append(_marker(MARKERS[s % len(MARKERS)], x, y, colour, tip))
            if (label_all or i == len(points) - 1) and (i, value) not in labelled:
                labelled.add((i, value))
                parts.append(_text(x, y - 8, number(value), font_size="10"))
        parts.append("</g>")
    parts += frame.categories(labels)
    parts.append("</svg>")
    return _svg(parts)
