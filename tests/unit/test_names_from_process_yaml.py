"""The state and event names the code needs come from the process YAML (issue 10, point 3).

A source scan: no string literal in the cleaned modules equals a state or event name of a
shipped process definition, so renaming a state or an event in the YAML cannot leave a
copy behind. And the attributes that replaced the copies (a transition's ``form`` and
``reason_code``, a deadline's ``form``) are validated with file and line.
"""

from __future__ import annotations

import ast
import re
import shutil
from dataclasses import replace
from pathlib import Path

import pytest
import yaml

from api.dashboard.portal_forms import deadline_form, forms
from models.audit_titles import AUDIT_TITLES
from models.commands import FeedbackIn
from models.process import SHIPPED_DIR, ProcessDefinitionError, load_registry

ROOT = Path(__file__).resolve().parents[2]
CLEANED = (
    "api/schemas.py",
    "api/access.py",
    "api/views.py",
    "api/dashboard/portal_forms.py",
    "api/dashboard/portal.py",
    "api/dashboard/portal_lists.py",
    "api/dashboard/cases.py",
    "api/dashboard/caseworker.py",
    "api/dashboard/pdf.py",
    "models/form_links.py",
    "models/commands.py",
    "models/audit_titles.py",
    "tasks/case_card.py",
    "tasks/delivery.py",
    "demo/behaviour.py",
)
TEMPLATES = ("api/dashboard/templates/case.html.j2",)
ALSO_ANOTHER_VOCABULARY = set(AUDIT_TITLES) | set(FeedbackIn.model_fields)
"""Audit actions that are no event (``staged``: a staged start) and the status fields of a
Rückmeldung (``appointment_kept``): other vocabularies whose words a process may reuse."""


def shipped_names() -> set[str]:
    names: set[str] = set()
    for path in SHIPPED_DIR.rglob("*.yaml"):
        document = yaml.safe_load(path.read_text(encoding="utf-8"))
        if document.get("kind") == "process":
            names |= set(document["states"])
            names |= {t["event"] for t in document["transitions"]}
    return names


def literals(path: Path) -> list[tuple[int, str]]:
    tree = ast.parse(path.read_text(encoding="utf-8"))
    return [
        (node.lineno, node.value)
        for node in ast.walk(tree)
        if isinstance(node, ast.Constant) and isinstance(node.value, str)
    ]


def test_the_scan_knows_the_names_of_every_shipped_process() -> None:
    names = shipped_names()
    assert {"voucher_issued", "appointment_booked", "final_report", "in_care"} <= names


@pytest.mark.parametrize("module", CLEANED)
def test_no_state_or_event_name_of_the_yaml_is_copied_into_the_code(module: str) -> None:
    names = shipped_names() - ALSO_ANOTHER_VOCABULARY
    copies = [f"{module}:{line}: {value!r}" for line, value in literals(ROOT / module)]
    assert [c for c in copies if c.rsplit(": ", 1)[1].strip("'") in names] == []


@pytest.mark.parametrize("template", TEMPLATES)
def test_no_state_or_event_name_is_copied_into_a_page_template(template: str) -> None:
    text = (ROOT / template).read_text(encoding="utf-8")
    quoted = set(re.findall(r"[\"']([a-z_]+)[\"']", text))
    assert quoted & (shipped_names() - ALSO_ANOTHER_VOCABULARY) == set()


# --- the attributes that replaced the copies, validated with file and line -------------


@pytest.fixture
def definitions(tmp_path: Path) -> Path:
    target = tmp_path / "definitions"
    target.mkdir()
    for path in SHIPPED_DIR.glob("*.yaml"):
        shutil.copy(path, target / path.name)
    return target


def broken(directory: Path, old: str, new: str) -> list[str]:
    path = directory / "kel_referral.yaml"
    text = path.read_text(encoding="utf-8")
    assert text.count(old) == 1, old
    path.write_text(text.replace(old, new), encoding="utf-8")
    with pytest.raises(ProcessDefinitionError) as info:
        load_registry(directory)
    return info.value.problems


def line_of(directory: Path, fragment: str) -> int:
    lines = (directory / "kel_referral.yaml").read_text(encoding="utf-8").splitlines()
    (hit,) = [n for n, line in enumerate(lines, 1) if fragment in line]
    return hit


def test_the_shipped_forms_and_reasons_are_found_in_the_yaml() -> None:
    process = load_registry().processes["kel_referral"]
    forms = {t.form.slug: t.event for t in process.transitions if t.form}
    assert len(forms) == 10 and process.reason_events == {"provider_declined"}
    assert {d.form for d in process.deadlines.values() if d.form} <= set(forms)


def test_a_deadline_naming_an_unknown_form_is_refused_with_file_and_line(
    definitions: Path,
) -> None:
    problems = broken(definitions, "    form: rueckmeldung  #", "    form: rueckmeldungen  #")
    line = line_of(definitions, "form: rueckmeldungen")
    assert problems == [
        f"{definitions / 'kel_referral.yaml'}:{line}: "
        "Formular 'rueckmeldungen' ist bei keinem Ereignis definiert"
    ]


def test_a_form_for_an_event_the_provider_does_not_report_is_refused(definitions: Path) -> None:
    problems = broken(
        definitions,
        "    title: Kunde/Kundin hat zurückgezogen\n    by: [caseworker]\n",
        "    title: Kunde/Kundin hat zurückgezogen\n    by: [caseworker]\n"
        "    form: {slug: rueckzug, kind: bestaetigung, button: Senden, done: Erfasst.}\n",
    )
    line = line_of(definitions, "slug: rueckzug")
    assert problems == [
        f"{definitions / 'kel_referral.yaml'}:{line}: "
        "customer_withdrew: 'form' nur für Ereignisse mit by: [provider]"
    ]


def test_a_form_kind_the_event_cannot_fill_is_refused(definitions: Path) -> None:
    problems = broken(definitions, "      kind: ablehnung\n", "      kind: bericht\n")
    line = line_of(definitions, "slug: ablehnung") + 1  # the form's kind
    assert problems == [
        f"{definitions / 'kel_referral.yaml'}:{line}: "
        "provider_declined: kind bericht braucht report: True"
    ]


def test_a_slug_given_twice_and_a_bad_reason_flag_are_refused(definitions: Path) -> None:
    path = definitions / "kel_referral.yaml"
    text = path.read_text(encoding="utf-8")
    path.write_text(
        text.replace("      slug: abbruch\n", "      slug: termin\n").replace(
            "    reason_code: true ", "    reason_code: vielleicht "
        ),
        encoding="utf-8",
    )
    with pytest.raises(ProcessDefinitionError) as info:
        load_registry(definitions)
    (problem,) = info.value.problems  # the type error stops the file before the cross-check
    line = line_of(definitions, "reason_code: vielleicht")
    assert problem.startswith(f"{path}:{line}: transitions.")
    assert "reason_code" in problem
    path.write_text(text.replace("      slug: abbruch\n", "      slug: termin\n"), encoding="utf-8")
    with pytest.raises(ProcessDefinitionError) as twice:
        load_registry(definitions)
    lines = path.read_text(encoding="utf-8").splitlines()
    second = [n for n, line in enumerate(lines, 1) if "slug: termin" in line][1]
    assert twice.value.problems == [f"{path}:{second}: Formular 'termin' doppelt"]


def test_a_version_stored_before_forms_were_in_the_yaml_takes_the_current_forms() -> None:
    registry = load_registry()
    current = registry.service("schulden")
    process = current.process
    without = process.model_copy(
        update={
            "transitions": [t.model_copy(update={"form": None}) for t in process.transitions],
            "deadlines": {
                k: d.model_copy(update={"form": None}) for k, d in process.deadlines.items()
            },
        }
    )
    older = replace(current, process=without)

    assert forms(older) == {}  # without the registry: nothing to fall back on
    assert forms(older, registry) == forms(current)
    kinds = [k for k, d in process.deadlines.items() if d.form]
    assert [deadline_form(older, k, registry) for k in kinds] == [
        deadline_form(current, k) for k in kinds
    ]
