"""A provider's Rückmeldung is checked against the catalog of the Leistungsart (seed 002 §4.6).

The pure function `check_feedback` on the shipped catalog: Sucht HBG 1-5 and modules 1-13
(§4.6.1) plus the youth modules J1/J4/J6 (§4.6.2), Schulden HBG 1-4 and modules 1-7 (§4.6.4).
"""

from __future__ import annotations

import math
from typing import Any

import pytest
from pydantic import ValidationError

from models.commands import BookedModule, FeedbackIn
from models.process import DEFAULT_MAX_HOURS, Registry, load_registry
from models.report_checks import InvalidReport, check_feedback


@pytest.fixture(scope="module")
def registry() -> Registry:
    return load_registry()


def report(need_group: int | None = None, *modules: dict[str, Any]) -> FeedbackIn:
    return FeedbackIn.model_validate({"need_group": need_group, "modules": list(modules)})


def refusal(
    registry: Registry,
    feedback: FeedbackIn,
    service_type: str = "sucht",
    age_group: str = "25-49",
) -> InvalidReport:
    with pytest.raises(InvalidReport) as caught:
        check_feedback(feedback, registry.service(service_type), age_group)
    return caught.value


def test_a_report_within_the_catalog_is_accepted(registry: Registry) -> None:
    feedback = report(
        2, {"code": 1, "hours": 7}, {"code": 3, "hours": 5, "group_sessions": 13}, {"code": 8}
    )
    check_feedback(feedback, registry.service("sucht"), "25-49")  # raises nothing


def test_need_group_17_is_refused_for_sucht_naming_the_field(registry: Registry) -> None:
    error = refusal(registry, report(17))

    assert error.field == "need_group"
    assert str(error).startswith("need_group: Hilfebedarfsgruppe 17 gibt es")
    assert "„Suchtberatung“" in str(error) and "1, 2, 3, 4, 5" in str(error)
    assert "seed 002 §4.6.1" in str(error)


def test_module_99_is_refused_for_sucht_naming_the_field(registry: Registry) -> None:
    error = refusal(registry, report(2, {"code": 1, "hours": 1}, {"code": 99, "hours": 1}))

    assert error.field == "modules[1].code"
    assert str(error).startswith("modules[1].code: Modul 99 gibt es für die Leistungsart")


@pytest.mark.parametrize(("group", "ok"), [(4, True), (5, False)])
def test_schulden_knows_need_groups_1_to_4(registry: Registry, group: int, ok: bool) -> None:
    feedback = report(group, {"code": 6, "hours": 2})
    if ok:
        check_feedback(feedback, registry.service("schulden"), "50+")
    else:
        assert refusal(registry, feedback, "schulden").field == "need_group"


def test_schulden_module_8_does_not_exist(registry: Registry) -> None:
    assert refusal(registry, report(2, {"code": 8}), "schulden").field == "modules[0].code"


def test_500_hours_for_module_1_are_refused_by_the_catalog(registry: Registry) -> None:
    error = refusal(registry, report(2, {"code": 1, "hours": 500}))

    assert error.field == "modules[0].hours"
    assert "höchstens 14" in str(error)


def test_the_bound_of_module_1_is_twice_the_seeds_seven_hours(registry: Registry) -> None:
    check_feedback(report(1, {"code": 1, "hours": 14}), registry.service("sucht"), "25-49")
    assert refusal(registry, report(1, {"code": 1, "hours": 14.5})).field == "modules[0].hours"


def test_module_12_is_bounded_by_the_seeds_up_to_five_sessions(registry: Registry) -> None:
    check_feedback(report(None, {"code": 12, "hours": 5}), registry.service("sucht"), "25-49")
    assert refusal(registry, report(None, {"code": 12, "hours": 6})).field == "modules[0].hours"


def test_schulden_modules_without_hours_in_the_seed_get_the_default_bound(
    registry: Registry,
) -> None:
    check_feedback(
        report(3, {"code": 5, "hours": DEFAULT_MAX_HOURS}), registry.service("schulden"), "u25"
    )
    error = refusal(registry, report(3, {"code": 5, "hours": DEFAULT_MAX_HOURS + 1}), "schulden")
    assert error.field == "modules[0].hours"


@pytest.mark.parametrize("value", [math.inf, -math.inf, math.nan, -1.0])
def test_hours_that_bypass_the_schema_are_still_refused(registry: Registry, value: float) -> None:
    booked = BookedModule.model_construct(code=1, hours=value, group_sessions=0)
    feedback = FeedbackIn.model_construct(need_group=2, modules=[booked])

    assert refusal(registry, feedback).field == "modules[0].hours"


@pytest.mark.parametrize("text", ['{"code": 1, "hours": 1e999}', '{"code": 1, "hours": NaN}'])
def test_the_schema_refuses_non_finite_hours(text: str) -> None:
    with pytest.raises(ValidationError):
        BookedModule.model_validate_json(text)


def test_the_schema_refuses_5000_hours() -> None:
    with pytest.raises(ValidationError):
        BookedModule(code=1, hours=5000)


def test_group_sessions_are_refused_for_a_module_without_groups(registry: Registry) -> None:
    error = refusal(registry, report(2, {"code": 2, "group_sessions": 1}))

    assert error.field == "modules[0].group_sessions"
    assert "keine Gruppensitzungen" in str(error)


def test_group_sessions_are_bounded_where_the_catalog_counts_them(registry: Registry) -> None:
    check_feedback(report(2, {"code": 3, "group_sessions": 26}), registry.service("sucht"), "50+")
    error = refusal(registry, report(2, {"code": 3, "group_sessions": 27}))
    assert error.field == "modules[0].group_sessions"


def test_the_same_module_twice_in_one_report_is_refused(registry: Registry) -> None:
    error = refusal(registry, report(2, {"code": 1, "hours": 10}, {"code": 1, "hours": 10}))

    assert error.field == "modules[1].code"
    assert "doppelt" in str(error)


def test_youth_modules_are_accepted_for_under_25s(registry: Registry) -> None:
    feedback = report(3, {"code": "J1", "hours": 6}, {"code": "J4", "hours": 10})
    check_feedback(feedback, registry.service("sucht"), "u25")  # raises nothing


@pytest.mark.parametrize("age_group", ["25-49", "50+"])
def test_youth_modules_are_refused_for_older_customers(registry: Registry, age_group: str) -> None:
    error = refusal(registry, report(3, {"code": "J6", "hours": 2}), age_group=age_group)

    assert error.field == "modules[0].code"
    assert "u25" in str(error)


def test_a_youth_module_the_seed_does_not_name_is_refused(registry: Registry) -> None:
    error = refusal(registry, report(3, {"code": "J2"}), age_group="u25")
    assert error.field == "modules[0].code"


@pytest.mark.parametrize("service_type", ["pflege", "psychosozial", "kinderbetreuung"])
def test_a_service_without_catalog_takes_neither_need_group_nor_modules(
    registry: Registry, service_type: str
) -> None:
    check_feedback(report(None), registry.service(service_type), "25-49")
    assert refusal(registry, report(1), service_type).field == "need_group"
    assert refusal(registry, report(None, {"code": 1}), service_type).field == "modules"
