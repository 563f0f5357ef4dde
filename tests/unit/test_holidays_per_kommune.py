"""A Kommune names its holiday subdivision and categories (issue 10, point 6).

Dates checked against the 2025 calendar: 15.8.2025 (Mariä Himmelfahrt) and 8.8.2025
(Augsburger Hohes Friedensfest) are Fridays, 19.6.2025 (Fronleichnam) a Thursday.
"""

from __future__ import annotations

import shutil
from datetime import date
from pathlib import Path

import pytest

from models.calendar import HolidayCalendar, due_date, is_working_day
from models.process import SHIPPED_DIR, ProcessDefinitionError, load_registry

CATHOLIC = ("public", "catholic")


def test_maria_himmelfahrt_counts_only_in_catholic_bavarian_municipalities() -> None:
    assert due_date(date(2025, 8, 14), "P1D", "BY") == date(2025, 8, 15)
    catholic = HolidayCalendar("BY", categories=CATHOLIC)
    assert due_date(date(2025, 8, 14), "P1D", catholic) == date(2025, 8, 18)


def test_augsburg_has_its_friedensfest() -> None:
    augsburg = HolidayCalendar("BY", "Augsburg")
    assert not is_working_day(date(2025, 8, 8), augsburg)
    assert is_working_day(date(2025, 8, 8), "BY")
    assert due_date(date(2025, 8, 7), "P1D", augsburg) == date(2025, 8, 11)


@pytest.mark.parametrize("land", ["SN", "TH"])
def test_fronleichnam_in_catholic_parts_of_saxony_and_thuringia(land: str) -> None:
    assert is_working_day(date(2025, 6, 19), land)
    assert not is_working_day(date(2025, 6, 19), HolidayCalendar(land, categories=CATHOLIC))


def test_nw_stays_the_default() -> None:
    assert HolidayCalendar() == HolidayCalendar("NW")
    assert not is_working_day(date(2025, 6, 19), "NW")  # Fronleichnam is a NW holiday


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"land": "XX"}, "Unbekanntes Bundesland"),
        ({"land": "BY", "subdivision": "München"}, "Unbekanntes Feiertagsgebiet"),
        ({"land": "BY", "categories": ("catholic",)}, "Feiertagskategorien"),
        ({"land": "BY", "categories": ("public", "school")}, "Feiertagskategorien"),
    ],
)
def test_unknown_values_are_refused_in_german(kwargs: dict[str, object], message: str) -> None:
    with pytest.raises(ValueError, match=message):
        HolidayCalendar(**kwargs)  # type: ignore[arg-type]


def kommune(tmp_path: Path, holidays_block: str, land: str = "BY") -> Path:
    target = tmp_path / "kommune"
    shutil.copytree(SHIPPED_DIR, target)
    standards = target / "duesseldorf.yaml"
    text = standards.read_text(encoding="utf-8").replace("land: NW\n", f"land: {land}\n")
    standards.write_text(text.replace("source:", holidays_block + "source:", 1), encoding="utf-8")
    return target


def test_the_standards_file_names_subdivision_and_categories(tmp_path: Path) -> None:
    block = "holidays:\n  subdivision: Augsburg\n  categories: [public, catholic]\n"
    registry = load_registry(kommune(tmp_path, block))
    calendar = registry.service("schulden").calendar
    assert calendar == HolidayCalendar("BY", "Augsburg", CATHOLIC)


def test_a_bad_subdivision_is_reported_with_file_and_line(tmp_path: Path) -> None:
    block = "holidays:\n  subdivision: Nürnberg\n"
    with pytest.raises(ProcessDefinitionError) as error:
        load_registry(kommune(tmp_path, block))
    problem = "\n".join(error.value.problems)
    assert "duesseldorf.yaml:" in problem and "Feiertagsgebiet" in problem


def test_without_a_holidays_block_the_land_alone_counts() -> None:
    assert load_registry(None).service("schulden").calendar == HolidayCalendar("NW")
