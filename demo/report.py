"""Kennzahlen report (Bericht 01, seed 002 §4.1) as files: HTML + CSV.

The facts come from `tasks.kennzahlen.load_case_facts`. `write_report` writes ``report.html``
(Jinja2, ``demo/templates/report.html.j2``) and ``report.csv`` (``;``-separated, UTF-8
with BOM and German number format, so Excel in Germany opens it directly).
"""

from __future__ import annotations

import csv
import functools
from collections.abc import Mapping
from datetime import date
from pathlib import Path
from typing import Any

import jinja2

from models import german
from models.figures.states import ReportStates
from models.kennzahlen import (
    COLUMNS,
    TOTAL,
    KennzahlenRow,
    occurring_phases,
)

SOURCE = "Kennzahlen nach seed 002 §4.1 (Bericht 01, JC StädteRegion Aachen)"
PHASES_FIELD = "open_over_90_days"


def zahl(value: float | None, decimals: int = 1, *, thousands: bool = False) -> str:
    """German number format for the report (thousands dot if asked); None -> ""."""
    return german.zahl(value, decimals, thousands="." if thousands else "", missing="")


def _cell(row: KennzahlenRow, field: str, *, thousands: bool) -> str:
    value: Any = getattr(row, field)
    if field == "provider":
        return str(value)
    if field == "share_u25":
        return german.prozent(value, space=german.NBSP if thousands else " ")  # HTML / CSV
    if isinstance(value, int):
        return zahl(value, 0, thousands=thousands)
    return zahl(value, 1, thousands=thousands)


def _table(
    rows: list[KennzahlenRow], states: ReportStates, *, thousands: bool
) -> tuple[list[str], list[list[str]]]:
    """Flat headers and cells; open_over_90_days becomes one column per occurring phase,
    titled and ordered as in the process definitions (`states`)."""
    phases = occurring_phases(rows, states)
    headers: list[str] = []
    for field, title in COLUMNS:
        if field == PHASES_FIELD and phases:
            headers += [f"> 90 Tage: {states.title(p)}" for p in phases]
        else:
            headers.append(title)
    cells: list[list[str]] = []
    for row in rows:
        line: list[str] = []
        for field, _ in COLUMNS:
            if field == PHASES_FIELD:
                counts = [row.open_over_90_days.get(p, 0) for p in phases] if phases else [0]
                line += [zahl(n, 0, thousands=thousands) for n in counts]
            else:
                line.append(_cell(row, field, thousands=thousands))
        cells.append(line)
    return headers, cells


# --- output ---------------------------------------------------------------------------------


@functools.cache
def environment() -> jinja2.Environment:
    """The report's Jinja2 environment, built once, HTML autoescaped."""
    return jinja2.Environment(
        loader=jinja2.PackageLoader("demo", "templates"),
        autoescape=True,
        undefined=jinja2.StrictUndefined,
        trim_blocks=True,
        lstrip_blocks=True,
        keep_trailing_newline=True,
    )


def write_report(
    rows: list[KennzahlenRow],
    out_dir: Path,
    *,
    title: str,
    period_start: date,
    period_end: date,
    states: ReportStates,
    extra: Mapping[str, str] = {},
) -> tuple[Path, Path]:
    """Write ``out_dir/report.html`` and ``out_dir/report.csv``; return (html, csv) paths.
    `states`: the process definitions' state titles and order (`models.figures.states`)."""
    out_dir.mkdir(parents=True, exist_ok=True)
    period = f"{german.datum(period_start)} – {german.datum(period_end)}"

    csv_path = out_dir / "report.csv"
    headers, cells = _table(rows, states, thousands=False)
    with csv_path.open("w", encoding="utf-8-sig", newline="") as fh:
        writer = csv.writer(fh, delimiter=";", quoting=csv.QUOTE_MINIMAL)
        writer.writerow(headers)
        writer.writerows(cells)

    phases = occurring_phases(rows, states)
    _, html_cells = _table(rows, states, thousands=True)
    html_cells = [[c or "–" for c in line] for line in html_cells]
    body = [(line, row.provider == TOTAL) for line, row in zip(html_cells, rows, strict=True)]
    html_path = out_dir / "report.html"
    html = (
        environment()
        .get_template("report.html.j2")
        .render(
            title=title,
            period=period,
            extra=dict(extra),
            columns=COLUMNS,
            phases_field=PHASES_FIELD,
            phase_titles=[states.title(p) for p in phases],
            body=[line for line, is_total in body if not is_total],
            totals=[line for line, is_total in body if is_total],
            source=SOURCE,
        )
    )
    html_path.write_text(html, encoding="utf-8")
    return html_path, csv_path
