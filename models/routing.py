"""Eingangszone routing: which team takes a new customer (seed 002 §4.4.1, Anlage 6).

Source: the "Eingangszonenfilter" of the JC Städteregion Aachen (seed 002 §4.4.1,
Anlage 6, "Zugangssteuerung", DESIGN §2). Pure Python, no I/O. The facts are
pseudonymous routing facts only (no names, no dates of birth); a decision's
`reason` names the rule and the facts in German, never the person.

Rules and their order
---------------------

The seed gives three groups. They are applied in `GROUP_PRECEDENCE` order:

1. **1.3** U25 (age < 25): the EZ informs the IFK directly -> `Team.U25`.
   Checked first for every case; it overrides 1.1 and 1.2.
2. **1.1a / 1.1b** (case `transfer_sgb3` / `move_in_with_record`): routed by the
   existing Profillage. Hauptberuflich Selbständige -> Fallmanagement
   Selbständige "unabhängig von Profillage"; otherwise Markt-/Förderprofil ->
   Joboffensive, Aktivierungs-/Entwicklungsprofil -> AV, marktfern
   (Stabilisierungs-/Unterstützungsprofil) -> sFM, marktferne Alleinerziehende
   -> sFM für Alleinerziehende. No profile and not self-employed ->
   `IncompleteFacts`. Reads only `profile`, `self_employed_main`, `single_parent`.
3. **1.2a-l** (case `new_or_reactivated`): the seed lists a-l without an order,
   and they overlap. They are evaluated in `RULE_PRECEDENCE_1_2`; the first
   rule that matches fires. The principle is *current status before target
   group before employment history before the residual rules*:

   ====  =======================================  =====================================
   rule  matches                                  why at this place
   ====  =======================================  =====================================
   g     laufende (hauptberufliche) Selbständig-  Specialist team; 1.1 routes the self-
         keit -> FM Selbständige                  employed "unabhängig von Profillage",
                                                  so 1.2 does the same. First. A self-
                                                  employment that is only a side income
                                                  is rule e (the seed names "selbst.
                                                  Tätigkeit" there).
   i     § 10 Abs. 1 SGB II -> sFM (AE)           A statutory limit of what work can be
                                                  expected now; placement teams (JO, AV,
                                                  611) cannot act on it. Before h, so a
                                                  single parent with a restriction is
                                                  named 1.2i (team sFM AE either way).
   j     AU aktuell oder > 3 Monate -> sFM        Current inability to work; same reason.
   f     lfd. soz.vers.pfl. Beschäftigung -> sFM  An ongoing job is a current fact; it
                                                  must win over a/d, which would
                                                  otherwise read the ongoing job as
                                                  "Beschäftigung vor dem Zugang".
   c     nach abgeschl. Studium -> Team 611       Target group; it names the access
                                                  route (Anlage 7: "Neukunden nach
                                                  abgeschlossenem Studium"). Before the
                                                  employment-length rules a/b/d.
   a     Beschäftigung >= 3 Monate -> JO          Employment history. Anlage 7: the JO
                                                  takes "direkt" whoever comes from an
                                                  at least three-month sv-pflichtige
                                                  Beschäftigung, so before l.
   b     vorher bei der JO betreut -> JO          Before d: b is the exception for a
                                                  short job after JO care (back to JO,
                                                  not AV).
   l     Akademiker -> Team 611                   Target group, same team as c; after
                                                  a/b (Anlage 7), before d.
   d     Beschäftigung < 3 Monate -> AV           Employment history.
   e     lfd. Nebeneinkommen -> AV                After a/d: a side income next to a
                                                  longer or shorter job history does
                                                  not change the history rule.
   h     marktferne Alleinerziehende -> sFM AE    Residual: "marktfern" is whoever no
                                                  rule above took (as in k).
   k     übrige Kunden -> sFM                     Residual, always matches. Last.
   ====  =======================================  =====================================

   `route` iterates over `RULE_PRECEDENCE_1_2`, so the tuple *is* the order.

4. **Alleinerziehende** (Anlage 7, Schnittstellen der Eingangszone, sFM: "Alleinerzie-
   henden an den spezialisierten Fallmanagern für Alleinerziehende zugeleitet"):
   wherever a rule of 1.1 or 1.2 leads to the sFM and the customer is a single parent,
   the team is sFM für Alleinerziehende, and the reason names both facts
   (`_for_single_parents`).

Readings of the seed (decisions taken here)
-------------------------------------------

- `prior_employment_months`: `None` = no soz.vers.pfl. Beschäftigung directly
  before the Zugang; `0`-`2` = "unter 3 Monaten" (1.2d); `>= 3` = 1.2a.
- `self_employed_main` (hauptberuflich, 1.1) also counts as "laufende
  Selbständigkeit" for 1.2g. `currently_self_employed` alone does not trigger
  1.1 (it may be a side business, which 1.1 does not route on).
- 1.2e names "lfd. Nebeneinkommen (unselbst. oder selbst. Tätigkeit)": a running
  self-employment that the customer reports as side income (`side_income` with
  `currently_self_employed`, not `self_employed_main`) is rule e (AV), not g;
  1.2g is a running self-employment that is the customer's main occupation.
- In 1.2 the profile is not a criterion: the seed routes new records by how
  they arrive, and treats whoever is left as marktfern (h, k).
- A decision lists the rules that also matched but lost in
  `RoutingDecision.also_matched` and in its reason ("Vorrang vor Regel 1.2a"):
  for 1.2 the losing 1.2 rules (residual h/k are not listed), for 1.3 the
  1.1 or 1.2 rule that would otherwise have fired.
"""

from __future__ import annotations

from collections.abc import Callable
from contextlib import suppress
from dataclasses import dataclass
from enum import StrEnum

SOURCE = "seed 002 §4.4.1 (Aachen, Anlage 6)"


class Team(StrEnum):
    """Target team of the Eingangszone (seed 002 §4.4.1, Anlage 6). `label` is the German name."""

    JO = "JO"
    AV = "AV"
    SFM = "SFM"
    SFM_AE = "SFM_AE"
    FM_SELB = "FM_SELB"
    TEAM_611 = "TEAM_611"
    U25 = "U25"

    @property
    def label(self) -> str:
        """German name for reasons and the UI, e.g. "Joboffensive"."""
        return TEAM_LABELS[self]


TEAM_LABELS: dict[Team, str] = {
    Team.JO: "Joboffensive",
    Team.AV: "Arbeitsvermittlung (AV) in der Geschäftsstelle",
    Team.SFM: "sozialorientiertes Fallmanagement (sFM)",
    Team.SFM_AE: "sFM für Alleinerziehende",
    Team.FM_SELB: "Fallmanagement Selbständige",
    Team.TEAM_611: "Team 611",
    Team.U25: "U25-Team / IFK direkt",
}


class Profile(StrEnum):
    """Profillage of an existing record (seed 002 §4.4.1, Anlage 6, Regel 1.1).

    marktnah: `market`, `support` (-> Joboffensive), `activation`, `development`
    (-> AV); marktfern: `stabilisation`, `assistance` (-> sFM).
    """

    market = "market"
    support = "support"
    activation = "activation"
    development = "development"
    stabilisation = "stabilisation"
    assistance = "assistance"

    @property
    def label(self) -> str:
        """German name, e.g. "Marktprofil"."""
        return PROFILE_LABELS[self]

    @property
    def market_distant(self) -> bool:
        """True for the marktferne Profillagen (Stabilisierungs-, Unterstützungsprofil)."""
        return self in (Profile.stabilisation, Profile.assistance)


PROFILE_LABELS: dict[Profile, str] = {
    Profile.market: "Marktprofil",
    Profile.support: "Förderprofil",
    Profile.activation: "Aktivierungsprofil",
    Profile.development: "Entwicklungsprofil",
    Profile.stabilisation: "Stabilisierungsprofil",
    Profile.assistance: "Unterstützungsprofil",
}

PROFILE_TEAMS: dict[Profile, Team] = {
    Profile.market: Team.JO,
    Profile.support: Team.JO,
    Profile.activation: Team.AV,
    Profile.development: Team.AV,
    Profile.stabilisation: Team.SFM,
    Profile.assistance: Team.SFM,
}
"""Regel 1.1 by Profillage (before the single-parent and self-employment exceptions)."""


class IntakeCase(StrEnum):
    """How the customer arrives at the Eingangszone (seed 002 §4.4.1, Anlage 6).

    `transfer_sgb3`: 1.1a Übertritt SGB III -> SGB II / Aufstocker aus SGB III;
    `move_in_with_record`: 1.1b Zuzug aus fremdem Jobcenter mit vorhandenem Datensatz;
    `new_or_reactivated`: 1.2 Neuaufnahme oder Reaktivierung innerhalb der 6-Monats-Frist.
    """

    transfer_sgb3 = "transfer_sgb3"
    move_in_with_record = "move_in_with_record"
    new_or_reactivated = "new_or_reactivated"


GROUP_PRECEDENCE: tuple[str, ...] = ("1.3", "1.1", "1.2")
"""Order of the rule groups: U25 first, then by case (1.1 or 1.2)."""

RULE_PRECEDENCE_1_2: tuple[str, ...] = (
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
"""Evaluation order of Regel 1.2a-l; the first match fires (reasons: module docstring)."""

RESIDUAL_RULES_1_2: frozenset[str] = frozenset({"1.2h", "1.2k"})
"""Rules that take whoever is left ("marktfern"); never listed in `also_matched`."""


class IncompleteFacts(ValueError):
    """The facts do not allow a decision; `rule` and `missing` name what is lacking.

    Raised for Regel 1.1a/1.1b without a Profillage unless the customer is
    hauptberuflich selbständig (seed 002 §4.4.1, Anlage 6, Regel 1.1).
    """

    def __init__(self, rule: str, missing: str, message: str) -> None:
        super().__init__(message)
        self.rule = rule
        self.missing = missing


@dataclass(frozen=True)
class IntakeFacts:
    """The routing facts of one customer at the Eingangszone; pseudonymous, no names.

    `age` must satisfy 0 < age < 120 and `prior_employment_months` must be
    `None` (no soz.vers.pfl. Beschäftigung directly before the Zugang) or >= 0;
    `case`/`profile` given as strings are converted to the enums; anything
    invalid raises `ValueError` (German message). Which rule reads which field:
    1.3 `age`; 1.1 `profile`, `self_employed_main`, `single_parent`;
    1.2a/d `prior_employment_months`, b `previously_with_jo`, c `after_university`,
    e `side_income`, f `currently_employed`, g `currently_self_employed` or
    `self_employed_main`, h `single_parent`, i `restriction_10_1` (+ `single_parent`),
    j `incapacity_current_or_over_3_months`, l `academic`
    (seed 002 §4.4.1, Anlage 6).
    """

    case: IntakeCase
    age: int
    profile: Profile | None = None
    self_employed_main: bool = False
    single_parent: bool = False
    prior_employment_months: int | None = None
    previously_with_jo: bool = False
    after_university: bool = False
    academic: bool = False
    side_income: bool = False
    currently_employed: bool = False
    currently_self_employed: bool = False
    restriction_10_1: bool = False
    incapacity_current_or_over_3_months: bool = False

    def __post_init__(self) -> None:
        try:
            object.__setattr__(self, "case", IntakeCase(self.case))
        except ValueError:
            raise ValueError(f"Unbekannte Fallgestaltung: {self.case!r}.") from None
        if self.profile is not None:
            try:
                object.__setattr__(self, "profile", Profile(self.profile))
            except ValueError:
                raise ValueError(f"Unbekannte Profillage: {self.profile!r}.") from None
        if isinstance(self.age, bool) or not isinstance(self.age, int):
            raise ValueError(f"Alter muss eine ganze Zahl sein (erhalten: {self.age!r}).")
        if not 0 < self.age < 120:
            raise ValueError(
                f"Alter muss größer als 0 und kleiner als 120 sein (erhalten: {self.age})."
            )
        months = self.prior_employment_months
        if months is not None and (isinstance(months, bool) or months < 0):
            raise ValueError(
                "Dauer der Beschäftigung vor dem Zugang muss leer oder eine ganze Zahl "
                f"≥ 0 (Monate) sein (erhalten: {months!r})."
            )


@dataclass(frozen=True)
class RoutingDecision:
    """Which team takes the customer, and why.

    `rule` is the rule that fired ("1.1a", "1.2c", "1.3", ...); `reason` is a
    German sentence naming the rule, the facts and the team, e.g.
    "Regel 1.2c: Zugang nach abgeschlossenem Studium → Team 611";
    `also_matched` lists rules that matched too but lost by precedence
    (seed 002 §4.4.1, Anlage 6).
    """

    team: Team
    rule: str
    reason: str
    source: str = SOURCE
    also_matched: tuple[str, ...] = ()


def _decision(
    team: Team, rule: str, facts_text: str, also_matched: tuple[str, ...] = ()
) -> RoutingDecision:
    reason = f"Regel {rule}: {facts_text} → {team.label}"
    if also_matched:
        reason += f" (Vorrang vor Regel {', '.join(also_matched)})"
    return RoutingDecision(team=team, rule=rule, reason=reason, also_matched=also_matched)


# --- Regel 1.2a-l: each returns (team, facts text) if it matches, else None ---------

_Match = tuple[Team, str] | None


def _rule_a(f: IntakeFacts) -> _Match:
    months = f.prior_employment_months
    if months is not None and months >= 3:
        return Team.JO, "Zugang aus soz.vers.pfl. Beschäftigung von mindestens 3 Monaten"
    return None


def _rule_b(f: IntakeFacts) -> _Match:
    if f.previously_with_jo:
        return Team.JO, "vor der Beschäftigung durch die Joboffensive betreut"
    return None


def _rule_c(f: IntakeFacts) -> _Match:
    if f.after_university:
        return Team.TEAM_611, "Zugang nach abgeschlossenem Studium"
    return None


def _rule_d(f: IntakeFacts) -> _Match:
    months = f.prior_employment_months
    if months is not None and months < 3:
        return Team.AV, "Zugang nach soz.vers.pfl. Beschäftigung unter 3 Monaten"
    return None


def _rule_e(f: IntakeFacts) -> _Match:
    if f.side_income and f.currently_self_employed and not f.self_employed_main:
        return Team.AV, "laufendes Nebeneinkommen aus selbständiger Tätigkeit"
    if f.side_income:
        return Team.AV, "laufendes Nebeneinkommen (unselbständige oder selbständige Tätigkeit)"
    return None


def _rule_f(f: IntakeFacts) -> _Match:
    if f.currently_employed:
        return Team.SFM, "Meldung mit laufendem soz.vers.pfl. Beschäftigungsverhältnis"
    return None


def _rule_g(f: IntakeFacts) -> _Match:
    side_business = f.currently_self_employed and f.side_income and not f.self_employed_main
    if f.self_employed_main or (f.currently_self_employed and not side_business):
        return Team.FM_SELB, "Meldung mit laufender (hauptberuflicher) Selbständigkeit"
    return None


def _rule_h(f: IntakeFacts) -> _Match:
    if f.single_parent:
        return Team.SFM_AE, "marktferne Alleinerziehende (keine vorrangige Regel trifft zu)"
    return None


def _rule_i(f: IntakeFacts) -> _Match:
    if f.restriction_10_1:
        return Team.SFM, "Einschränkung nach § 10 Abs. 1 SGB II"
    return None


def _rule_j(f: IntakeFacts) -> _Match:
    if f.incapacity_current_or_over_3_months:
        return Team.SFM, "aktuell oder länger als 3 Monate arbeitsunfähig"
    return None


def _rule_k(f: IntakeFacts) -> _Match:
    return Team.SFM, "übrige Kunden (marktferne Profillage, keine andere Regel trifft zu)"


def _rule_l(f: IntakeFacts) -> _Match:
    if f.academic:
        return Team.TEAM_611, "Akademikerin/Akademiker"
    return None


_RULES_1_2: dict[str, Callable[[IntakeFacts], _Match]] = {
    "1.2a": _rule_a,
    "1.2b": _rule_b,
    "1.2c": _rule_c,
    "1.2d": _rule_d,
    "1.2e": _rule_e,
    "1.2f": _rule_f,
    "1.2g": _rule_g,
    "1.2h": _rule_h,
    "1.2i": _rule_i,
    "1.2j": _rule_j,
    "1.2k": _rule_k,
    "1.2l": _rule_l,
}
assert set(_RULES_1_2) == set(RULE_PRECEDENCE_1_2)


def _for_single_parents(match: _Match, f: IntakeFacts) -> _Match:
    """sFM → sFM für Alleinerziehende for a single parent, the reason naming both facts
    (seed 002 §4.4.1, Anlage 7, sFM)."""
    if match is None or match[0] is not Team.SFM or not f.single_parent:
        return match
    return Team.SFM_AE, f"{match[1]}, alleinerziehend"


def _matching_1_2(facts: IntakeFacts) -> list[tuple[str, Team, str]]:
    """All 1.2 rules that match, in precedence order."""
    found: list[tuple[str, Team, str]] = []
    for rule in RULE_PRECEDENCE_1_2:
        match = _for_single_parents(_RULES_1_2[rule](facts), facts)
        if match is not None:
            found.append((rule, *match))
    return found


def _route_1_2(facts: IntakeFacts) -> RoutingDecision:
    (rule, team, text), *rest = _matching_1_2(facts)  # 1.2k always matches
    losers = tuple(r for r, _, _ in rest if r not in RESIDUAL_RULES_1_2)
    return _decision(team, rule, "Neuaufnahme/Reaktivierung, " + text, losers)


_CASE_TEXT_1_1: dict[IntakeCase, tuple[str, str]] = {
    IntakeCase.transfer_sgb3: ("1.1a", "Übertritt aus dem SGB III / Aufstocker aus dem SGB III"),
    IntakeCase.move_in_with_record: (
        "1.1b",
        "Zuzug aus fremdem Jobcenter mit vorhandenem Datensatz",
    ),
}


def _route_1_1(facts: IntakeFacts) -> RoutingDecision:
    rule, case_text = _CASE_TEXT_1_1[facts.case]
    if facts.self_employed_main:
        return _decision(
            Team.FM_SELB,
            rule,
            f"{case_text}, hauptberuflich selbständig (unabhängig von der Profillage)",
        )
    profile = facts.profile
    if profile is None:
        raise IncompleteFacts(
            rule,
            "profile",
            f"Regel {rule}: Profillage fehlt. Bei {case_text} richtet sich die Zuständigkeit "
            "nach der vorhandenen Profillage; ohne sie ist nur eine hauptberufliche "
            "Selbständigkeit zuordenbar.",
        )
    if profile.market_distant and facts.single_parent:
        return _decision(
            Team.SFM_AE, rule, f"{case_text}, {profile.label} (marktfern), alleinerziehend"
        )
    distance = "marktfern" if profile.market_distant else "marktnah"
    return _decision(PROFILE_TEAMS[profile], rule, f"{case_text}, {profile.label} ({distance})")


def route(facts: IntakeFacts) -> RoutingDecision:
    """Decide the team for `facts` (seed 002 §4.4.1, Anlage 6, Regeln 1.1-1.3).

    Order: 1.3 (U25) first, then 1.1a/1.1b or 1.2a-l by `facts.case`; within
    1.2 the first rule of `RULE_PRECEDENCE_1_2` that matches fires. Returns a
    `RoutingDecision` naming the rule. Raises `IncompleteFacts` for 1.1a/1.1b
    without a Profillage (unless hauptberuflich selbständig).
    """
    if facts.age < 25:
        also: tuple[str, ...] = ()
        if facts.case is IntakeCase.new_or_reactivated:
            also = tuple(r for r, _, _ in _matching_1_2(facts) if r not in RESIDUAL_RULES_1_2)
        else:
            with suppress(IncompleteFacts):  # 1.3 needs no profile
                also = (_route_1_1(facts).rule,)
        return _decision(
            Team.U25, "1.3", "U25-Kunde (unter 25 Jahre), die EZ informiert die IFK direkt", also
        )
    if facts.case is IntakeCase.new_or_reactivated:
        return _route_1_2(facts)
    return _route_1_1(facts)
