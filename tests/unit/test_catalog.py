"""The shipped Leistungskatalog (seed 002 §4.6.1 Sucht, §4.6.4 Schulden) is valid and faithful."""

from __future__ import annotations

from pathlib import Path

import pytest
import yaml

from models.process import CatalogDef, ServiceCatalog

CATALOG = Path(__file__).parents[2] / "models" / "process_definitions" / "catalog.yaml"


@pytest.fixture(scope="module")
def catalog() -> CatalogDef:
    data = yaml.safe_load(CATALOG.read_text(encoding="utf-8"))
    return CatalogDef.model_validate(data)


def test_services(catalog: CatalogDef) -> None:
    assert catalog.kind == "catalog"
    assert set(catalog.services) == {"sucht", "schulden"}


@pytest.mark.parametrize(
    ("service", "groups", "modules"),
    [
        ("sucht", range(1, 6), [*range(1, 14), "J1", "J4", "J6"]),
        ("schulden", range(1, 5), range(1, 8)),
    ],
)
def test_codes(
    catalog: CatalogDef, service: str, groups: range, modules: list[int | str] | range
) -> None:
    cat = catalog.services[service]
    assert [g.code for g in cat.need_groups] == list(groups)
    assert [m.code for m in cat.modules] == list(modules)


def test_youth_modules_are_for_under_25s_only(catalog: CatalogDef) -> None:
    """Seed 002 §4.6.2 (Jugend(Sucht)Beratung J1, J4, J6); §4.6.3: modules 1-13 for over-25s."""
    modules = {m.code: m for m in catalog.services["sucht"].modules}
    assert {c for c, m in modules.items() if m.age_groups == ["u25"]} == {"J1", "J4", "J6"}


def test_every_sucht_module_with_seed_hours_has_a_bound_of_twice_or_the_seeds_maximum(
    catalog: CatalogDef,
) -> None:
    modules = {m.code: m for m in catalog.services["sucht"].modules}
    assert modules[1].hours_bound == 14  # "in der Regel sieben Beratungsstunden"
    assert modules[4].hours_bound == 34  # 14 (+3)
    assert modules[9].hours_bound == 6  # "2 bis 6 Beratungsstunden"
    assert modules[11].hours_bound == 7  # "bis zu 7 Sitzungen"
    assert (modules[3].sessions_bound, modules[1].sessions_bound) == (26, 0)


@pytest.mark.parametrize("service", ["sucht", "schulden"])
def test_need_group_modules_exist(catalog: CatalogDef, service: str) -> None:
    cat: ServiceCatalog = catalog.services[service]
    codes = {m.code for m in cat.modules}
    for group in cat.need_groups:
        assert group.modules, f"HBG {group.code} ohne Module"
        assert set(group.modules) <= codes, f"HBG {group.code}: {group.modules}"


def test_sucht_spot_values(catalog: CatalogDef) -> None:
    cat = catalog.services["sucht"]
    modules = {m.code: m for m in cat.modules}
    groups = {g.code: g for g in cat.need_groups}

    assert modules[1].title == "Basisberatung"
    assert modules[1].individual_hours == 7
    assert (modules[3].individual_hours, modules[3].group_sessions) == (5, 13)
    assert (modules[7].individual_hours, modules[7].group_sessions) == (10, 13)
    assert modules[9].individual_hours == 6  # seed: 2-6 E-Stunden, upper bound
    assert modules[12].individual_hours == 5  # seed: bis zu 5 Sitzungen
    assert [c for c, m in modules.items() if m.special] == list(range(8, 14))
    assert all(m.age_groups is None for c, m in modules.items() if isinstance(c, int))

    assert groups[1].modules == [1, 3]
    assert groups[1].effort == "12 E-Stunden + 13 Grp-Sitzungen"
    assert groups[3].modules == [1, 4, 5, 6]
    assert groups[5].modules == [1, 2, 4, 5, 6, 7]


def test_sucht_effort_matches_module_hours(catalog: CatalogDef) -> None:
    """The seed's Zeitaufwand per HBG is the sum of its modules (Modul 4 oder 5 counted once)."""
    cat = catalog.services["sucht"]
    modules = {m.code: m for m in cat.modules}
    for group in cat.need_groups:
        booked = [c for c in group.modules if c != 5 or 4 not in group.modules]
        hours = sum(modules[c].individual_hours for c in booked)
        assert group.effort is not None
        assert group.effort.startswith(f"{hours:g} E-Stunden"), (group.code, group.effort)


def test_schulden_spot_values(catalog: CatalogDef) -> None:
    cat = catalog.services["schulden"]
    modules = {m.code: m for m in cat.modules}
    groups = {g.code: g for g in cat.need_groups}

    assert modules[1].title == "Basisberatung"
    assert modules[1].phase == 1
    assert all(m.phase == 2 for c, m in modules.items() if c != 1)
    assert modules[3].title == "Forderungsüberprüfung und Schuldnerschutz"
    assert modules[6].title == "Nachbetreuung"
    assert all(m.individual_hours == 0 for m in modules.values())

    assert groups[1].modules == [1, 2, 3]
    assert groups[4].modules == [6]
