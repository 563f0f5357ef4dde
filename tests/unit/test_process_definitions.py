"""Loading and validating the process definitions (models.process.load_registry).

Broken definitions are made by copying the shipped YAML files into ``tmp_path`` and
editing their text; every problem must name the file and the line to look at.
`load_registry` is cached per directory: each test gets its own directory, and the cache
test clears the cache explicitly.
"""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest

from models.process import (
    SHIPPED_DIR,
    ProcessDefinitionError,
    UnknownServiceType,
    load_registry,
)

SERVICES = {"kinderbetreuung", "pflege", "psychosozial", "schulden", "sucht"}


@pytest.fixture
def definitions(tmp_path: Path) -> Path:
    """A copy of the shipped definitions that a test may break."""
    target = tmp_path / "definitions"
    target.mkdir()
    for path in SHIPPED_DIR.glob("*.yaml"):
        shutil.copy(path, target / path.name)
    return target


def edit(path: Path, old: str, new: str) -> None:
    text = path.read_text(encoding="utf-8")
    assert text.count(old) == 1, f"{old!r} is not exactly once in {path.name}"
    path.write_text(text.replace(old, new), encoding="utf-8")


def line_of(path: Path, fragment: str, *, after: str | None = None) -> int:
    """The 1-based number of the only line holding `fragment` (after the line holding `after`)."""
    lines = path.read_text(encoding="utf-8").splitlines()
    first = 0 if after is None else line_of(path, after)
    hits = [n for n, line in enumerate(lines, 1) if n > first and fragment in line]
    assert hits, f"{fragment!r} not in {path.name}"
    assert after is not None or len(hits) == 1, f"{fragment!r} is not unique in {path.name}"
    return hits[0]


def problems_of(directory: Path) -> list[str]:
    with pytest.raises(ProcessDefinitionError) as info:
        load_registry(directory)
    assert info.value.problems
    for problem in info.value.problems:
        assert problem in str(info.value)
    return info.value.problems


# --- the shipped definitions -----------------------------------------------------------------


def test_the_shipped_definitions_load_for_duesseldorf() -> None:
    registry = load_registry()

    assert registry.kommune == "Düsseldorf"
    assert set(registry.services) == SERVICES
    assert set(registry.processes) == {"kel_referral"}
    for service_type, config in registry.services.items():
        assert config.service_type == service_type
        assert config.process.name == "kel_referral"
        assert config.land == "NW"
        assert not config.working_days


@pytest.mark.parametrize(
    ("service_type", "consent"),
    [
        ("sucht", "status_without"),  # seed 003: Sachstandsbericht without consent
        ("psychosozial", "required"),
        ("schulden", "optional"),
        ("kinderbetreuung", "optional"),
        ("pflege", "optional"),
    ],
)
def test_health_related_services_require_consent(service_type: str, consent: str) -> None:
    assert load_registry().service(service_type).standard.consent == consent


def test_schulden_is_staged_after_sucht_and_nothing_else_is_staged() -> None:
    registry = load_registry()

    assert {k: s.standard.staged_after for k, s in registry.services.items()} == {
        "kinderbetreuung": [],
        "pflege": [],
        "psychosozial": [],
        "schulden": ["sucht"],
        "sucht": [],
    }


@pytest.mark.parametrize(
    ("service_type", "deadline", "period"),
    [
        ("schulden", "interim_report", "P6W"),
        ("schulden", "result_report", "P26W"),
        ("sucht", "result_report", "P12W"),
        ("psychosozial", "interim_report", "P4W"),
        ("kinderbetreuung", "result_report", "P8W"),
        ("kinderbetreuung", "interim_report", None),
        ("pflege", "first_appointment", None),
        # seed 002 §4.2, Pflege: "Kunde hinweisen", everything "individuell"
        ("pflege", "voucher_validity", None),
        ("pflege", "no_show_followup", None),
        ("pflege", "reroute", None),
        # seed 002 §4.2, psychosozial: Ergebnismeldung "individuell nach Abschluss"
        ("psychosozial", "result_report", None),
    ],
)
def test_each_service_has_its_mindeststandard_periods(
    service_type: str, deadline: str, period: str | None
) -> None:
    assert load_registry().service(service_type).period(deadline) == period


def test_the_catalog_is_attached_to_sucht_and_schulden_only() -> None:
    registry = load_registry()

    assert {k for k, s in registry.services.items() if s.catalog is not None} == {
        "sucht",
        "schulden",
    }


def test_an_unknown_service_type_is_refused_naming_the_known_ones() -> None:
    with pytest.raises(UnknownServiceType) as info:
        load_registry().service("schuldnerberatung")

    assert info.value.service_type == "schuldnerberatung"
    assert info.value.known == sorted(SERVICES)
    assert "schuldnerberatung" in str(info.value)
    assert "sucht" in str(info.value)


def test_the_registry_is_cached_per_directory_until_the_cache_is_cleared(
    definitions: Path,
) -> None:
    first = load_registry(definitions)
    assert load_registry(definitions) is first
    edit(definitions / "duesseldorf.yaml", "interim_report: P6W", "interim_report: P2X")

    assert load_registry(definitions) is first  # still the cached one
    load_registry.cache_clear()
    with pytest.raises(ProcessDefinitionError):
        load_registry(definitions)


# --- broken definitions: file and line of every problem ---------------------------------------

CASES = [
    pytest.param(
        "kel_referral.yaml",
        "    from: [rerouting]\n",
        "    from: [rerouted]\n",
        "- event: provider_assigned",
        "provider_assigned: Zustand 'rerouted' nicht definiert",
        id="unknown-from-state-in-a-transition",
    ),
    pytest.param(
        "kel_referral.yaml",
        "    to: in_counselling\n",
        "    to: in_beratung\n",
        "- event: appointment_kept",
        "appointment_kept: Zustand 'in_beratung' nicht definiert",
        id="unknown-to-state-in-a-transition",
    ),
    pytest.param(
        "kel_referral.yaml",
        "start: [interim_report, result_report]",
        "start: [interim_report, result_reprot]",
        "- event: appointment_kept",
        "appointment_kept: Frist 'result_reprot' nicht definiert",
        id="unknown-deadline-in-start",
    ),
    pytest.param(
        "kel_referral.yaml",
        "initial_deadlines: [voucher_validity,",
        "initial_deadlines: [voucher_valid,",
        "initial_deadlines:",
        "Frist 'voucher_valid' ist nicht unter 'deadlines' definiert",
        id="unknown-deadline-in-initial-deadlines",
    ),
    pytest.param(
        "kel_referral.yaml",
        "{offset: -P3D,",
        "{offset: -3D,",
        "{offset: -3D,",
        "deadlines.first_appointment.ladder.0.offset: Value error, Versatz '-3D'",
        id="ladder-offset-without-P",
    ),
    pytest.param(  # months are allowed in ladders since issue 10, point 5; years are not
        "kel_referral.yaml",
        "{offset: -P7D,",
        "{offset: -P1Y,",
        "{offset: -P1Y,",
        "Versatz '-P1Y'",
        id="ladder-offset-in-years",
    ),
    pytest.param(
        "kel_referral.yaml",
        "    ladder:\n      - {offset: P1D, action: escalate}\n  reroute:",
        "    ladder: []\n  reroute:",
        "ladder: []",
        "deadlines.no_show_followup.ladder: List should have at least 1 item",
        id="empty-ladder",
    ),
    pytest.param(
        "kel_referral.yaml",
        "      - {offset: P1D, action: event, event: voucher_expired}",
        "      - {offset: P1D, action: event, event: voucher_expiry}",
        "event: voucher_expiry}",
        "Ereignis 'voucher_expiry' nicht definiert",
        id="ladder-event-unknown",
    ),
    pytest.param(
        "kel_referral.yaml",
        "    complete: [first_appointment]\n",
        "    complete: [first_appointment]\n    notfiy: [caseworker]\n",
        "notfiy:",
        "transitions.2.notfiy: Extra inputs are not permitted",
        id="unknown-key-in-a-transition",
    ),
    pytest.param(
        "kel_referral.yaml",
        "    to: closed\n    outcome: expired\n",
        "    to: closed\n",
        "- event: voucher_expired",
        "voucher_expired: Abschluss ohne 'outcome'",
        id="closing-without-outcome",
    ),
    pytest.param(
        "kel_referral.yaml",
        "    cancel: all\n  - event: final_report",
        "    cancel: all\n"
        "  - event: no_show  # doppelt\n"
        "    title: Nicht erschienen\n"
        "    from: [appointment_booked]\n"
        "  - event: final_report",
        "# doppelt",
        "no_show: doppelt im Zustand 'appointment_booked'",
        id="duplicate-state-and-event",
    ),
    pytest.param(
        "kel_referral.yaml",
        "staged: staged ",
        "staged: gestuft ",
        "staged: gestuft",
        "Zustand 'gestuft' ist nicht unter 'states' definiert",
        id="unknown-staged-state",
    ),
    pytest.param(
        "duesseldorf.yaml",
        "      result_report: P26W          # Ergebnismeldung nach 26 Wochen\n",
        "      result_report: P26W\n      extra_check: P3D\n",
        "extra_check: P3D",
        "Frist 'extra_check' wird vom Prozess nicht verwendet",
        id="unused-period",
    ),
    pytest.param(
        "duesseldorf.yaml",
        "interim_report: P6W",
        "interim_report: P2X",
        "interim_report: P2X",
        "Ungültige Frist „P2X“",
        id="invalid-iso-period",
    ),
    pytest.param(
        "duesseldorf.yaml",
        "    title: Suchtberatung\n    process: kel_referral",
        "    title: Suchtberatung\n    process: kel_referal",
        "process: kel_referal",
        "unbekannter Prozesstyp 'kel_referal' (bekannt: kel_referral)",
        id="unknown-process-name",
    ),
    pytest.param(
        "duesseldorf.yaml",
        "    staged_after: [sucht]",
        "    stagged_after: [sucht]",
        "stagged_after:",
        "services.schulden.stagged_after: Extra inputs are not permitted",
        id="unknown-key-in-a-service",
    ),
    pytest.param(
        "duesseldorf.yaml",
        "    staged_after: [sucht]",
        "    staged_after: [suht]",
        "staged_after: [suht]",
        "Leistungsart 'suht' unbekannt",
        id="staged-after-an-unknown-service",
    ),
    pytest.param(
        "duesseldorf.yaml",
        "    day_count: calendar\n    consent: optional\n    staged_after",
        "    day_count: working_days\n    consent: optional\n    staged_after",
        "interim_report: P6W",
        "P6W: Arbeitstage nur als PnD angeben",
        id="weeks-in-a-working-days-service",
    ),
    pytest.param(
        "duesseldorf.yaml",
        "    title: Schuldnerberatung\n",
        "    title: Schuldnerberatung: Beratung\n",
        "Schuldnerberatung: Beratung",
        "kein gültiges YAML",
        id="yaml-syntax-error",
    ),
    pytest.param(
        "duesseldorf.yaml",
        "      first_feedback: P14D         # 1. Rückmeldung 14 Tage\n",
        "",
        ("kinderbetreuung:", "periods:"),
        "Frist 'first_feedback' fehlt (für 'individuell' null eintragen)",
        id="missing-period",
    ),
    pytest.param(
        "catalog.yaml",
        "  sucht:\n    source:",
        "  suchtt:\n    source:",
        "suchtt:",
        "Leistungsart 'suchtt' unbekannt",
        id="catalog-for-an-unknown-service",
    ),
    pytest.param(
        "catalog.yaml",
        "        individual_hours: 10\n        max_hours: 20\n        note: Zeitraum",
        "        individual_hours: 10\n        max_hours: 9.5\n        note: Zeitraum",
        "max_hours: 9.5",
        "Modul 2: unter individual_hours",
        id="module-bound-below-the-usual-hours",
    ),
    pytest.param(
        "catalog.yaml",
        "      - code: J6\n",
        "      - code: J4\n",
        ("Obergrenze wie Modul 4", "code: J4"),  # the second J4
        "Nummer J4 doppelt",
        id="module-code-twice",
    ),
    pytest.param(
        "catalog.yaml",
        "      - code: J6\n",
        "      - code: X6\n",
        "code: X6",
        "weder eine Zahl noch von der Form J1",
        id="module-code-neither-number-nor-youth",
    ),
    pytest.param(
        "catalog.yaml",
        "        max_hours: 5\n        special: true",
        "        max_hours: 5000\n        special: true",
        "max_hours: 5000",
        "less than or equal to 1000",
        id="module-bound-above-the-schema-ceiling",
    ),
]


@pytest.mark.parametrize(("file", "old", "new", "anchor", "message"), CASES)
def test_a_broken_definition_is_reported_with_file_line_and_problem(
    definitions: Path,
    file: str,
    old: str,
    new: str,
    anchor: str | tuple[str, str],
    message: str,
) -> None:
    path = definitions / file
    edit(path, old, new)
    after, fragment = anchor if isinstance(anchor, tuple) else (None, anchor)
    line = line_of(path, fragment, after=after)

    problems = problems_of(definitions)

    expected = f"{path}:{line}: "
    assert any(p.startswith(expected) and message in p for p in problems), (expected, problems)


def test_a_missing_period_is_reported_by_name_in_the_standards_file(definitions: Path) -> None:
    path = definitions / "duesseldorf.yaml"
    edit(path, "      first_feedback: P14D         # 1. Rückmeldung 14 Tage\n", "")

    (problem,) = problems_of(definitions)

    assert problem.startswith(f"{path}:")
    assert "Frist 'first_feedback' fehlt" in problem
    # the line is inside the kinderbetreuung block, at most one off the 'periods:' line
    periods = line_of(path, "periods:", after="kinderbetreuung:")
    assert int(problem.split(":")[1]) in {periods, periods + 1}


def test_an_event_in_a_final_state_is_refused(definitions: Path) -> None:
    path = definitions / "kel_referral.yaml"
    edit(
        path,
        "    from: [in_counselling]\n    to: closed\n    outcome: aborted",
        "    from: [in_counselling, closed]\n    to: closed\n    outcome: aborted",
    )

    problems = problems_of(definitions)

    line = line_of(path, "- event: aborted")
    assert f"{path}:{line}: aborted: Endzustand 'closed' hat keine Ereignisse" in problems


def test_a_yaml_syntax_error_names_the_line_of_the_error(definitions: Path) -> None:
    path = definitions / "kel_referral.yaml"
    edit(path, "  rerouting: {title:", "  rerouting: {title: [")

    (problem,) = problems_of(definitions)

    assert problem.startswith(f"{path}:")
    assert "kein gültiges YAML" in problem
    assert int(problem.split(":")[1]) >= line_of(path, "rerouting: {title: [")


def test_every_problem_in_every_file_is_reported_at_once(definitions: Path) -> None:
    process, standards = definitions / "kel_referral.yaml", definitions / "duesseldorf.yaml"
    edit(process, "start: [interim_report, result_report]", "start: [interim_reprot]")
    edit(standards, "interim_report: P6W", "interim_report: P2X")
    edit(
        standards,
        "    title: Suchtberatung\n    process: kel_referral",
        "    title: S\n    process: x",
    )

    problems = problems_of(definitions)

    assert len(problems) == 3
    assert sum(p.startswith(f"{process}:") for p in problems) == 1
    assert sum(p.startswith(f"{standards}:") for p in problems) == 2


def test_a_directory_without_definitions_is_refused(tmp_path: Path) -> None:
    (problem,) = problems_of(tmp_path)

    assert str(tmp_path) in problem
    assert "keine *.yaml" in problem


def test_exactly_one_standards_file_is_required(definitions: Path) -> None:
    shutil.copy(definitions / "duesseldorf.yaml", definitions / "aachen.yaml")

    problems = problems_of(definitions)

    assert any("genau eine Datei mit 'kind: standards'" in p and "2" in p for p in problems)


def test_an_unknown_kind_of_document_is_refused(definitions: Path) -> None:
    path = definitions / "catalog.yaml"
    edit(path, "kind: catalog", "kind: katalog")

    (problem,) = problems_of(definitions)

    assert problem.startswith(f"{path}:{line_of(path, 'kind: katalog')}: ")


def test_a_duplicate_key_is_refused_not_silently_overwritten(definitions: Path) -> None:
    path = definitions / "kel_referral.yaml"
    edit(
        path,
        '  closed: {title: "Abgeschlossen", final: true}',
        '  closed: {title: "Abgeschlossen", final: true}\n  closed: {title: "Zu"}',
    )

    problems = problems_of(definitions)

    line = line_of(path, '{title: "Zu"}')
    assert any(p.startswith(f"{path}:{line}: ") for p in problems)
