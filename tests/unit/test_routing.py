"""Eingangszone routing (seed 002 §4.4.1, Anlage 6): one test per rule plus overlaps."""

from __future__ import annotations

import itertools
from typing import Any

import pytest

from models.routing import (
    GROUP_PRECEDENCE,
    RULE_PRECEDENCE_1_2,
    SOURCE,
    IncompleteFacts,
    IntakeCase,
    IntakeFacts,
    Profile,
    RoutingDecision,
    Team,
    route,
)

NEW = IntakeCase.new_or_reactivated
ADULT = 40


def assert_decision(decision: RoutingDecision, team: Team, rule: str) -> None:
    assert decision.team is team
    assert decision.rule == rule
    assert decision.reason.startswith(f"Regel {rule}: ")
    assert decision.reason.split(" (Vorrang")[0].endswith(f"→ {team.label}")
    assert decision.source == SOURCE


def new(**kw: Any) -> RoutingDecision:
    return route(IntakeFacts(case=NEW, age=kw.pop("age", ADULT), **kw))


# --- 1.1a / 1.1b -------------------------------------------------------------------

CASES_1_1 = [(IntakeCase.transfer_sgb3, "1.1a"), (IntakeCase.move_in_with_record, "1.1b")]


@pytest.mark.parametrize(("case", "rule"), CASES_1_1)
@pytest.mark.parametrize(
    ("profile", "team"),
    [
        (Profile.market, Team.JO),
        (Profile.support, Team.JO),
        (Profile.activation, Team.AV),
        (Profile.development, Team.AV),
        (Profile.stabilisation, Team.SFM),
        (Profile.assistance, Team.SFM),
    ],
)
def test_1_1_by_profile(case: IntakeCase, rule: str, profile: Profile, team: Team) -> None:
    d = route(IntakeFacts(case=case, age=ADULT, profile=profile))
    assert_decision(d, team, rule)
    assert profile.label in d.reason


@pytest.mark.parametrize(("case", "rule"), CASES_1_1)
@pytest.mark.parametrize("profile", [None, Profile.market, Profile.assistance])
def test_1_1_self_employed_regardless_of_profile(
    case: IntakeCase, rule: str, profile: Profile | None
) -> None:
    d = route(IntakeFacts(case=case, age=ADULT, profile=profile, self_employed_main=True))
    assert_decision(d, Team.FM_SELB, rule)
    assert "selbständig" in d.reason


@pytest.mark.parametrize(("case", "rule"), CASES_1_1)
@pytest.mark.parametrize("profile", [Profile.stabilisation, Profile.assistance])
def test_1_1_market_distant_single_parent(case: IntakeCase, rule: str, profile: Profile) -> None:
    d = route(IntakeFacts(case=case, age=ADULT, profile=profile, single_parent=True))
    assert_decision(d, Team.SFM_AE, rule)
    assert "alleinerziehend" in d.reason


@pytest.mark.parametrize(("case", "rule"), CASES_1_1)
@pytest.mark.parametrize(
    ("profile", "team"), [(Profile.market, Team.JO), (Profile.development, Team.AV)]
)
def test_1_1_market_close_single_parent_stays_by_profile(
    case: IntakeCase, rule: str, profile: Profile, team: Team
) -> None:
    d = route(IntakeFacts(case=case, age=ADULT, profile=profile, single_parent=True))
    assert_decision(d, team, rule)


@pytest.mark.parametrize(("case", "rule"), CASES_1_1)
def test_1_1_ignores_1_2_facts(case: IntakeCase, rule: str) -> None:
    d = route(
        IntakeFacts(
            case=case,
            age=ADULT,
            profile=Profile.activation,
            academic=True,
            restriction_10_1=True,
            currently_self_employed=True,
            prior_employment_months=12,
        )
    )
    assert_decision(d, Team.AV, rule)


@pytest.mark.parametrize(("case", "rule"), CASES_1_1)
def test_1_1_without_profile_is_incomplete(case: IntakeCase, rule: str) -> None:
    with pytest.raises(IncompleteFacts, match=rf"Regel {rule}: Profillage fehlt") as exc:
        route(IntakeFacts(case=case, age=ADULT, single_parent=True))
    assert exc.value.rule == rule
    assert exc.value.missing == "profile"
    assert isinstance(exc.value, ValueError)


# --- 1.2a-l, each alone --------------------------------------------------------------

TRIGGERS: dict[str, dict[str, Any]] = {
    "1.2a": {"prior_employment_months": 3},
    "1.2b": {"previously_with_jo": True},
    "1.2c": {"after_university": True},
    "1.2d": {"prior_employment_months": 2},
    "1.2e": {"side_income": True},
    "1.2f": {"currently_employed": True},
    "1.2g": {"self_employed_main": True},
    "1.2h": {"single_parent": True},
    "1.2i": {"restriction_10_1": True},
    "1.2j": {"incapacity_current_or_over_3_months": True},
    "1.2k": {},
    "1.2l": {"academic": True},
}
TEAMS_1_2: dict[str, Team] = {
    "1.2a": Team.JO,
    "1.2b": Team.JO,
    "1.2c": Team.TEAM_611,
    "1.2d": Team.AV,
    "1.2e": Team.AV,
    "1.2f": Team.SFM,
    "1.2g": Team.FM_SELB,
    "1.2h": Team.SFM_AE,
    "1.2i": Team.SFM,
    "1.2j": Team.SFM,
    "1.2k": Team.SFM,
    "1.2l": Team.TEAM_611,
}


def test_1_2a_employment_of_3_months_or_more() -> None:
    assert_decision(new(prior_employment_months=3), Team.JO, "1.2a")
    assert_decision(new(prior_employment_months=48), Team.JO, "1.2a")


def test_1_2b_previously_with_jo() -> None:
    assert_decision(new(previously_with_jo=True), Team.JO, "1.2b")


def test_1_2c_after_university() -> None:
    d = new(after_university=True)
    assert_decision(d, Team.TEAM_611, "1.2c")
    assert d.reason == (
        "Regel 1.2c: Neuaufnahme/Reaktivierung, Zugang nach abgeschlossenem Studium → Team 611"
    )


@pytest.mark.parametrize("months", [0, 1, 2])
def test_1_2d_employment_under_3_months(months: int) -> None:
    assert_decision(new(prior_employment_months=months), Team.AV, "1.2d")


def test_1_2e_side_income() -> None:
    assert_decision(new(side_income=True), Team.AV, "1.2e")


def test_1_2f_currently_employed() -> None:
    assert_decision(new(currently_employed=True), Team.SFM, "1.2f")


def test_1_2g_currently_self_employed() -> None:
    assert_decision(new(currently_self_employed=True), Team.FM_SELB, "1.2g")


def test_1_2g_main_self_employment_counts_as_ongoing() -> None:
    assert_decision(new(self_employed_main=True), Team.FM_SELB, "1.2g")


def test_1_2h_market_distant_single_parent() -> None:
    assert_decision(new(single_parent=True), Team.SFM_AE, "1.2h")


def test_1_2i_restriction_10_1() -> None:
    d = new(restriction_10_1=True)
    assert_decision(d, Team.SFM, "1.2i")
    assert "§ 10 Abs. 1 SGB II" in d.reason


def test_1_2j_incapacity() -> None:
    assert_decision(new(incapacity_current_or_over_3_months=True), Team.SFM, "1.2j")


def test_1_2k_everyone_else() -> None:
    d = new()
    assert_decision(d, Team.SFM, "1.2k")
    assert d.also_matched == ()


def test_1_2k_profile_is_not_a_1_2_criterion() -> None:
    assert_decision(new(profile=Profile.market), Team.SFM, "1.2k")


def test_1_2l_academic() -> None:
    assert_decision(new(academic=True), Team.TEAM_611, "1.2l")


@pytest.mark.parametrize("rule", sorted(TRIGGERS))
def test_each_1_2_trigger_alone_fires_its_rule(rule: str) -> None:
    assert_decision(new(**TRIGGERS[rule]), TEAMS_1_2[rule], rule)


# --- 1.3 --------------------------------------------------------------------------


@pytest.mark.parametrize("case", list(IntakeCase))
def test_1_3_u25(case: IntakeCase) -> None:
    d = route(IntakeFacts(case=case, age=24, profile=Profile.market))
    assert_decision(d, Team.U25, "1.3")
    assert "U25" in d.reason


def test_1_3_boundary_25_is_not_u25() -> None:
    assert_decision(new(age=25), Team.SFM, "1.2k")
    assert_decision(new(age=18), Team.U25, "1.3")


def test_1_3_does_not_need_a_profile() -> None:
    d = route(IntakeFacts(case=IntakeCase.transfer_sgb3, age=20))
    assert_decision(d, Team.U25, "1.3")
    assert d.also_matched == ()


def test_1_3_names_the_overridden_1_1_rule() -> None:
    d = route(IntakeFacts(case=IntakeCase.move_in_with_record, age=22, self_employed_main=True))
    assert_decision(d, Team.U25, "1.3")
    assert d.also_matched == ("1.1b",)
    assert "Vorrang vor Regel 1.1b" in d.reason


# --- overlaps -------------------------------------------------------------------------


def test_u25_academic_goes_to_u25() -> None:
    d = new(age=23, academic=True, after_university=True)
    assert_decision(d, Team.U25, "1.3")
    assert d.also_matched == ("1.2c", "1.2l")


def test_self_employed_with_long_employment_goes_to_fm_selbstaendige() -> None:
    d = new(currently_self_employed=True, prior_employment_months=24)
    assert_decision(d, Team.FM_SELB, "1.2g")
    assert d.also_matched == ("1.2a",)
    assert "Vorrang vor Regel 1.2a" in d.reason


def test_single_parent_with_restriction_is_1_2i_to_sfm_ae() -> None:
    d = new(single_parent=True, restriction_10_1=True)
    assert_decision(d, Team.SFM_AE, "1.2i")
    assert "alleinerziehend" in d.reason
    assert d.also_matched == ()  # h is residual, not listed


def test_academic_after_university_is_1_2c() -> None:
    d = new(academic=True, after_university=True)
    assert_decision(d, Team.TEAM_611, "1.2c")
    assert d.also_matched == ("1.2l",)


def test_currently_employed_beats_employment_length() -> None:
    assert_decision(new(currently_employed=True, prior_employment_months=12), Team.SFM, "1.2f")
    assert_decision(new(currently_employed=True, prior_employment_months=1), Team.SFM, "1.2f")


def test_academic_beats_employment_length() -> None:
    assert_decision(new(academic=True, prior_employment_months=1), Team.TEAM_611, "1.2l")
    assert_decision(new(after_university=True, prior_employment_months=6), Team.TEAM_611, "1.2c")


def test_restriction_beats_academic_and_employment() -> None:
    d = new(restriction_10_1=True, academic=True, prior_employment_months=10)
    assert_decision(d, Team.SFM, "1.2i")
    assert d.also_matched == ("1.2a", "1.2l")


def test_incapacity_beats_employment_length() -> None:
    d = new(incapacity_current_or_over_3_months=True, prior_employment_months=5)
    assert_decision(d, Team.SFM, "1.2j")


def test_previously_with_jo_beats_short_employment() -> None:
    assert_decision(new(previously_with_jo=True, prior_employment_months=2), Team.JO, "1.2b")


def test_side_income_with_long_employment_stays_jo() -> None:
    assert_decision(new(side_income=True, prior_employment_months=6), Team.JO, "1.2a")


def test_single_parent_with_market_close_facts_is_not_h() -> None:
    assert_decision(new(single_parent=True, prior_employment_months=6), Team.JO, "1.2a")
    assert_decision(new(single_parent=True, side_income=True), Team.AV, "1.2e")


def test_self_employed_single_parent_with_restriction_goes_to_fm_selbstaendige() -> None:
    d = new(currently_self_employed=True, single_parent=True, restriction_10_1=True)
    assert_decision(d, Team.FM_SELB, "1.2g")


# --- corrections read from Anlage 6 with Anlage 7 (issue 10, point 6) -------------------


@pytest.mark.parametrize(
    ("facts", "rule", "fact_text"),
    [
        ({"currently_employed": True}, "1.2f", "Beschäftigungsverhältnis"),
        ({"restriction_10_1": True}, "1.2i", "§ 10 Abs. 1 SGB II"),
        ({"incapacity_current_or_over_3_months": True}, "1.2j", "arbeitsunfähig"),
    ],
)
def test_every_sfm_rule_sends_single_parents_to_sfm_ae(
    facts: dict[str, bool], rule: str, fact_text: str
) -> None:
    """Anlage 7, sFM: "Alleinerziehenden an den spezialisierten Fallmanagern für
    Alleinerziehende zugeleitet" — whichever rule made it the sFM."""
    d = new(single_parent=True, **facts)
    assert_decision(d, Team.SFM_AE, rule)
    assert fact_text in d.reason and "alleinerziehend" in d.reason
    assert_decision(new(**facts), Team.SFM, rule)


def test_side_income_from_self_employment_is_1_2e_not_g() -> None:
    """Anlage 6, 1.2e: "lfd. Nebeneinkommen (unselbst. oder selbst. Tätigkeit) → AV"."""
    d = new(currently_self_employed=True, side_income=True)
    assert_decision(d, Team.AV, "1.2e")
    assert "selbständiger Tätigkeit" in d.reason
    main = new(self_employed_main=True, currently_self_employed=True, side_income=True)
    assert_decision(main, Team.FM_SELB, "1.2g")


def test_three_months_of_employment_go_to_jo_before_the_academic_rule() -> None:
    """Anlage 7, JO: "direkte Aufnahme von (Neu-)Kunden, die aus einem mind. dreimonatigen
    sv-pflichtigen Beschäftigungsverhältnis kommen"."""
    d = new(academic=True, prior_employment_months=3)
    assert_decision(d, Team.JO, "1.2a")
    assert "1.2l" in d.also_matched
    assert_decision(new(academic=True, prior_employment_months=2), Team.TEAM_611, "1.2l")


# --- the precedence constant is the order the code follows ----------------------------


def test_precedence_constants() -> None:
    assert GROUP_PRECEDENCE == ("1.3", "1.1", "1.2")
    assert RULE_PRECEDENCE_1_2 == (
        "1.2g",
        "1.2i",
        "1.2j",
        "1.2f",
        "1.2c",
        "1.2a",
        "1.2b",
        "1.2l",
        "1.2d",
        "1.2e",
        "1.2h",
        "1.2k",
    )
    assert sorted(RULE_PRECEDENCE_1_2) == [f"1.2{c}" for c in "abcdefghijkl"]
    assert RULE_PRECEDENCE_1_2[-1] == "1.2k"


@pytest.mark.parametrize(
    ("first", "second"),
    [
        (x, y)
        for x, y in itertools.combinations(RULE_PRECEDENCE_1_2, 2)
        if not set(TRIGGERS[x]) & set(TRIGGERS[y])
    ],
)
def test_earlier_rule_wins_every_pair(first: str, second: str) -> None:
    d = new(**TRIGGERS[first], **TRIGGERS[second])
    team = TEAMS_1_2[first]
    if team is Team.SFM and second == "1.2h":
        team = Team.SFM_AE  # every sFM rule routes single parents to sFM AE (Anlage 7)
    assert_decision(d, team, first)
    if second not in ("1.2h", "1.2k"):
        assert second in d.also_matched


# --- validation -----------------------------------------------------------------------


@pytest.mark.parametrize("age", [0, -1, 120, 200])
def test_bad_age(age: int) -> None:
    with pytest.raises(ValueError, match="Alter muss größer als 0 und kleiner als 120"):
        IntakeFacts(case=NEW, age=age)


@pytest.mark.parametrize("age", [1, 119])
def test_age_bounds_accepted(age: int) -> None:
    IntakeFacts(case=NEW, age=age)


def test_age_must_be_int() -> None:
    with pytest.raises(ValueError, match="ganze Zahl"):
        IntakeFacts(case=NEW, age=True)
    with pytest.raises(ValueError, match="ganze Zahl"):
        IntakeFacts(case=NEW, age=30.5)  # type: ignore[arg-type]


def test_negative_employment_months() -> None:
    with pytest.raises(ValueError, match="Beschäftigung vor dem Zugang"):
        IntakeFacts(case=NEW, age=ADULT, prior_employment_months=-1)


def test_strings_are_converted_and_unknown_values_refused() -> None:
    facts = IntakeFacts(case="transfer_sgb3", age=ADULT, profile="support")  # type: ignore[arg-type]
    assert facts.case is IntakeCase.transfer_sgb3
    assert facts.profile is Profile.support
    assert_decision(route(facts), Team.JO, "1.1a")
    with pytest.raises(ValueError, match="Unbekannte Fallgestaltung"):
        IntakeFacts(case="neu", age=ADULT)  # type: ignore[arg-type]
    with pytest.raises(ValueError, match="Unbekannte Profillage"):
        IntakeFacts(case=NEW, age=ADULT, profile="Marktprofil")  # type: ignore[arg-type]


def test_team_values_and_labels() -> None:
    assert [t.value for t in Team] == ["JO", "AV", "SFM", "SFM_AE", "FM_SELB", "TEAM_611", "U25"]
    assert Team.SFM_AE.label == "sFM für Alleinerziehende"
    assert Team.U25.label == "U25-Team / IFK direkt"
