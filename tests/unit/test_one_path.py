"""One path advances a case (issue 10, point 3): typed commands with a handler table,
event data recorded as the process YAML says, no state or event name copied into Python.

Pure checks on the tables and the loader; that the API, the inbox, the sweep and a staged
release all reach `tasks.advance.advance` is shown against a database in
tests/integration/test_one_path.py.
"""

from __future__ import annotations

import ast
import inspect
import shutil
import textwrap
from pathlib import Path
from typing import get_args

import pytest
from pydantic import BaseModel

import tasks.advance
import tasks.commands
import tasks.handlers
import tasks.master_data
import tasks.recorders
import tasks.rejections
from models.process import (
    SHIPPED_DIR,
    ProcessDefinitionError,
    Records,
    Registry,
    ServiceConfig,
    load_registry,
)
from tasks.commands import PAYLOADS
from tasks.handlers import HANDLERS, check_handlers
from tasks.recorders import RECORDERS, _records
from tasks.repository import _release_event, _release_staged
from tasks.sweep import _fire_case

DEFINITION_DIRS = [SHIPPED_DIR, *sorted((SHIPPED_DIR / "kommunen").iterdir())]


@pytest.fixture(scope="module")
def registry() -> Registry:
    return load_registry()


@pytest.fixture
def definitions(tmp_path: Path) -> Path:
    """A copy of the shipped definitions that a test may break."""
    target = tmp_path / "definitions"
    target.mkdir()
    for path in SHIPPED_DIR.glob("*.yaml"):
        shutil.copy(path, target / path.name)
    return target


def edit(path: Path, old: str, new: str) -> int:
    """Replace the only `old` in `path` by `new`; returns the 1-based line it is on."""
    text = path.read_text(encoding="utf-8")
    assert text.count(old) == 1, f"{old!r} is not exactly once in {path.name}"
    path.write_text(text.replace(old, new), encoding="utf-8")
    return text[: text.index(old)].count("\n") + 1


def problems_of(directory: Path) -> list[str]:
    with pytest.raises(ProcessDefinitionError) as info:
        load_registry(directory)
    return info.value.problems


# --- the handler table ----------------------------------------------------------------------


def test_every_command_kind_has_a_handler_for_its_payload_type() -> None:
    assert set(PAYLOADS) == {"intake", "start_referral", "event"}  # kinds stored in the inbox
    assert set(HANDLERS) == set(PAYLOADS.values())
    for payload_type, handler in HANDLERS.items():
        annotation = inspect.signature(handler).parameters["payload"].annotation
        assert annotation == payload_type.__name__  # each handler takes its own type


def test_a_payload_type_without_a_handler_is_refused_naming_it() -> None:
    class Transfer(BaseModel):
        reference: str

    with pytest.raises(TypeError, match="kein Handler für die Befehlsart\\(en\\): Transfer"):
        check_handlers([*PAYLOADS.values(), Transfer], HANDLERS)


def test_apply_command_dispatches_by_table_without_isinstance() -> None:
    tree = ast.parse(inspect.getsource(tasks.commands.apply_command))
    calls = {
        n.func.id
        for n in ast.walk(tree)
        if isinstance(n, ast.Call) and isinstance(n.func, ast.Name)
    }
    assert "isinstance" not in calls
    assert "HANDLERS" in inspect.getsource(tasks.commands.apply_command)


# --- event data as the process says -----------------------------------------------------------


def test_every_records_value_has_exactly_one_recorder() -> None:
    assert set(RECORDERS) == set(get_args(Records))


def test_the_shipped_referral_process_names_what_its_events_record(registry: Registry) -> None:
    process = registry.service("schulden").process
    recorded = {t.event: t.records for t in process.transitions if t.records}
    assert recorded == {
        "appointment_booked": "appointment_on",
        "appointment_kept": "first_appointment_on",
        "provider_assigned": "provider",
        "consent_withdrawn": "consent_withdrawal",
    }
    assert process.release_event("now") == "prerequisite_met"
    assert process.release_event("after_weeks") == "prerequisite_running"


def test_an_unknown_records_value_is_refused_with_file_and_line(definitions: Path) -> None:
    path = definitions / "kel_referral.yaml"
    line = edit(path, "    records: first_appointment_on\n", "    records: termin_gehalten\n")

    problems = problems_of(definitions)

    assert any(
        p.startswith(f"{path}:{line}: ") and "records" in p and "first_appointment_on" in p
        for p in problems
    ), problems


def test_records_differing_between_transitions_of_one_event_are_refused(
    definitions: Path,
) -> None:
    path = definitions / "kel_referral.yaml"
    everywhere = "[staged, voucher_issued, appointment_booked, no_show, rerouting, in_counselling]"
    edit(
        path,
        f"    records: consent_withdrawal\n    from: {everywhere}",
        "    records: consent_withdrawal\n    from: [staged, voucher_issued, rerouting]",
    )
    line = edit(  # the same event from the other states, recording nothing
        path,
        "  - event: aborted\n",
        "  - event: consent_withdrawn\n    title: Widerruf\n    by: [caseworker]\n"
        "    from: [appointment_booked, no_show, in_counselling]\n  - event: aborted\n",
    )

    problems = problems_of(definitions)

    message = "consent_withdrawn: 'records' anders als beim selben Ereignis"
    assert f"{path}:{line}: {message}" in problems


def test_a_staged_process_without_a_release_event_is_refused_with_file_and_line(
    definitions: Path,
) -> None:
    path = definitions / "kel_referral.yaml"
    edit(path, "    release: now                # fired when the earlier referral", "    # was")
    staged_line = edit(path, "staged: staged ", "staged: staged ")

    problems = problems_of(definitions)

    assert f"{path}:{staged_line}: kein Ereignis mit 'release: now' gibt sie frei" in problems


def test_a_release_event_outside_the_staged_state_is_refused(definitions: Path) -> None:
    path = definitions / "kel_referral.yaml"
    edit(path, "    records: appointment_on ", "    release: now\n    records: appointment_on ")

    problems = problems_of(definitions)

    assert any(
        "appointment_booked: 'release' nur für Ereignisse aus 'staged'" in p for p in problems
    )


def without_attributes(service: ServiceConfig) -> ServiceConfig:
    """`service` as a version stored before ``records``/``release`` existed."""
    process = service.process.model_copy(
        update={
            "transitions": [
                t.model_copy(update={"records": None, "release": None})
                for t in service.process.transitions
            ]
        }
    )
    return ServiceConfig(
        service.service_type,
        service.standard,
        process,
        service.land,
        service.catalog,
        service.calendar,
    )


def test_a_version_stored_before_the_attributes_takes_them_from_the_current_definition(
    registry: Registry,
) -> None:
    old = without_attributes(registry.service("schulden"))
    assert old.process.records_of("appointment_booked") is None

    assert _records(old, registry, "appointment_booked") == "appointment_on"
    assert _records(old, registry, "first_feedback") is None
    assert _release_event(old, registry, "now") == "prerequisite_met"


def test_a_version_with_its_own_records_is_not_overridden(registry: Registry) -> None:
    current = registry.service("schulden")
    own = current.process.model_copy(
        update={
            "transitions": [
                t.model_copy(update={"records": None}) if t.records == "provider" else t
                for t in current.process.transitions
            ]
        }
    )
    version = ServiceConfig("schulden", current.standard, own, current.land, current.catalog)

    assert _records(version, registry, "provider_assigned") is None  # its own definition
    assert _records(version, registry, "appointment_kept") == "first_appointment_on"


# --- no names of the process in the code of the one path -----------------------------------------


def shipped_names() -> set[str]:
    names: set[str] = set()
    for directory in DEFINITION_DIRS:
        registry = load_registry(directory)
        for process in registry.processes.values():
            names |= set(process.states) | set(process.deadlines)
            names |= {t.event for t in process.transitions}
    return names


def string_literals(source: str) -> set[str]:
    """Every string constant of `source` except docstrings."""
    tree = ast.parse(source)
    docstrings = {
        id(node.body[0].value)
        for node in ast.walk(tree)
        if isinstance(node, ast.Module | ast.FunctionDef | ast.ClassDef)
        and node.body
        and isinstance(node.body[0], ast.Expr)
        and isinstance(node.body[0].value, ast.Constant)
    }
    return {
        node.value
        for node in ast.walk(tree)
        if isinstance(node, ast.Constant)
        and isinstance(node.value, str)
        and id(node) not in docstrings
    }


ONE_PATH = {
    **{
        module.__name__: inspect.getsource(module)
        for module in (
            tasks.advance,
            tasks.commands,
            tasks.handlers,
            tasks.master_data,
            tasks.recorders,
            tasks.rejections,
        )
    },
    **{
        f"{f.__module__}.{f.__name__}": textwrap.dedent(inspect.getsource(f))
        for f in (_release_staged, _release_event, _fire_case)
    },
}


@pytest.mark.parametrize("source", ONE_PATH.values(), ids=ONE_PATH.keys())
def test_no_state_event_or_deadline_name_of_a_shipped_process_is_written_in_the_code(
    source: str,
) -> None:
    names = shipped_names()
    assert {"appointment_booked", "prerequisite_met", "in_counselling", "admitted"} <= names

    assert string_literals(source) & names == set()


def test_decide_is_called_on_the_one_path_only() -> None:
    tasks_dir = Path(tasks.advance.__file__).parent
    callers = sorted(
        path.name
        for path in tasks_dir.rglob("*.py")
        if "decide(" in path.read_text(encoding="utf-8")
    )
    assert callers == ["advance.py"]
