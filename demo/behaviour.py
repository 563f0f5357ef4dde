"""A simulated jobcenter year: arrivals and provider behaviour, calibrated on public figures.

Pure and deterministic: the same seed gives the same plan. Sources of the calibration:

- volumes: middle of the Düsseldorf Bedarfsschätzung per year (seed 002 §4.2):
  Kinderbetreuung 60-150, Pflege 10-30, Schulden 800-1.200, psychosozial 100-150,
  Sucht 50-100;
- vouchers: of 802 issued in one year, 551 became cases, 163 came back invalid
  (seed 002 §4.1, Aachen, Bericht 01): about 20 % returned invalid, about 11 % never
  booked (they expire);
- debt counselling waits: 63 % start within 3 weeks, mean about 10 weeks, 10 % wait
  more than 20 weeks: a log-normal wait with median 10.8 days and sigma 2.0 gives
  P(<=21 d) = 0.63, P(>140 d) = 0.10, mean about 11 weeks.
"""

from __future__ import annotations

import math
import random
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field
from datetime import date, timedelta
from typing import Any, Literal, get_args

from models.calendar import is_working_day, parse_period
from models.process import ProcessDef, Registry, ServiceConfig, StatusAnswer

#: Referrals per year at scale 1.0 (middle of seed 002 §4.2).
VOLUMES = {"kinderbetreuung": 105, "pflege": 20, "schulden": 1000, "psychosozial": 125, "sucht": 75}
#: Sites and their share of customers (the Aachen sites of seed 002 §4.1).
SITES = {
    "Aachen": 0.40,
    "Nordkreis 1": 0.20,
    "Nordkreis 2": 0.12,
    "Eschweiler": 0.12,
    "Stolberg": 0.11,
    "Eifel": 0.05,
}
P_RETURNED_INVALID = 163 / 802
P_NEVER_BOOKED = 0.11
P_DECLINED = 0.05
P_NO_SHOW = 0.08
P_STAGED_SCHULDEN_AFTER_SUCHT = 0.25
#: Counselling length after the first appointment, in days (low, high).
DURATION = {
    "schulden": (120, 300),
    "kinderbetreuung": (20, 56),
    "psychosozial": (42, 98),
    "sucht": (56, 112),
    "pflege": (14, 56),
}


@dataclass(frozen=True)
class ProviderSpec:
    code: str
    name: str
    service_types: tuple[str, ...]
    sites: tuple[str, ...] = ()
    monthly_capacity: int = 30

    @property
    def email(self) -> str:
        return f"{self.code.lower()}@traeger.example"


PROVIDERS = (
    ProviderSpec("SB-CARITAS", "Caritas Schuldnerberatung", ("schulden",), monthly_capacity=35),
    ProviderSpec("SB-DIAKONIE", "Diakonie Schuldnerberatung", ("schulden",), monthly_capacity=25),
    ProviderSpec("SB-STADT", "Städtische Schuldnerberatung", ("schulden",), monthly_capacity=30),
    ProviderSpec("SUCHT-CARITAS", "Caritas Suchthilfe", ("sucht",), monthly_capacity=10),
    ProviderSpec(
        "PSD-GA", "Gesundheitsamt – Psychosozialer Dienst", ("psychosozial",), monthly_capacity=15
    ),
    ProviderSpec(
        "IPUNKT", "i-Punkt Familie (Jugendamt)", ("kinderbetreuung",), monthly_capacity=15
    ),
    ProviderSpec("PFLEGEBUERO", "Städtisches Pflegebüro", ("pflege",), monthly_capacity=5),
)


@dataclass(frozen=True)
class Planned:
    """A command to record on `day`: kind, reference and payload as JSON-ready dict."""

    day: date
    kind: str
    reference: str
    payload: dict[str, Any]


@dataclass
class Plan:
    commands: list[Planned] = field(default_factory=list)

    def add(self, day: date, kind: str, reference: str, **payload: Any) -> None:
        self.commands.append(Planned(day, kind, reference, payload))

    def by_day(self) -> dict[date, list[Planned]]:
        out: dict[date, list[Planned]] = {}
        for planned in sorted(self.commands, key=lambda p: p.day):
            out.setdefault(planned.day, []).append(planned)
        return out


def working_days(start: date, end: date) -> list[date]:
    days = (start + timedelta(n) for n in range((end - start).days))
    return [d for d in days if is_working_day(d)]


def plan_year(registry: Registry, start: date, months: int, scale: float, seed: int) -> Plan:
    """Every command of a simulated period: intakes, referral starts, provider reports."""
    rng = random.Random(seed)
    end = _add_months(start, months)
    days = working_days(start, end)
    plan = Plan()
    counter = 0
    for service_type, per_year in VOLUMES.items():
        count = round(per_year * scale * months / 12)
        for day in sorted(rng.choice(days) for _ in range(count)):
            counter += 1
            customer = f"K{seed:02d}{counter:06d}"
            _plan_customer(plan, rng, registry, service_type, customer, day, end, counter)
    plan.commands = [c for c in plan.commands if c.day < end]
    return plan


def _add_months(day: date, months: int) -> date:
    month = day.month - 1 + months
    return (
        date(day.year + month // 12, month % 12 + 1, 1)
        if day.day == 1
        else day + timedelta(days=round(30.44 * months))
    )


def _plan_customer(
    plan: Plan,
    rng: random.Random,
    registry: Registry,
    service_type: str,
    customer: str,
    day: date,
    end: date,
    n: int,
) -> None:
    site = _weighted(rng, SITES)
    age = rng.choice([rng.randint(18, 24)] + [rng.randint(25, 49)] * 4 + [rng.randint(50, 64)] * 2)
    plan.add(
        day, "intake", customer, customer_number=customer, site=site, facts=_intake_facts(rng, age)
    )
    _plan_referral(
        plan, rng, registry.service(service_type), customer, site, age, day, end, f"Z-{n:06d}"
    )
    if service_type == "sucht" and rng.random() < P_STAGED_SCHULDEN_AFTER_SUCHT:
        _plan_referral(
            plan,
            rng,
            registry.service("schulden"),
            customer,
            site,
            age,
            day,
            end,
            f"Z-{n:06d}-S",
            staged=True,
        )


def _intake_facts(rng: random.Random, age: int) -> dict[str, Any]:
    case = rng.choice(["transfer_sgb3", "move_in_with_record", "new_or_reactivated"])
    facts: dict[str, Any] = {"case": case, "age": age}
    if case != "new_or_reactivated":
        facts["profile"] = rng.choice(
            ["market", "support", "activation", "development", "stabilisation", "assistance"]
        )
    facts["single_parent"] = rng.random() < 0.15
    facts["prior_employment_months"] = rng.choice([None, 1, 2, 4, 12])
    facts["side_income"] = rng.random() < 0.1
    facts["academic"] = rng.random() < 0.05
    facts["restriction_10_1"] = rng.random() < 0.08
    return facts


def _weighted(rng: random.Random, weights: dict[str, float]) -> str:
    return rng.choices(list(weights), weights=list(weights.values()))[0]


def _providers_for(service_type: str) -> list[ProviderSpec]:
    return [p for p in PROVIDERS if service_type in p.service_types]


def _plan_referral(
    plan: Plan,
    rng: random.Random,
    service: ServiceConfig,
    customer: str,
    site: str,
    age: int,
    day: date,
    end: date,
    reference: str,
    *,
    staged: bool = False,
) -> None:
    providers = _providers_for(service.service_type)
    provider = rng.choice(providers)
    needs_consent = service.standard.consent == "required" or rng.random() < 0.6
    has_contact = rng.random() < 0.5
    plan.add(
        day,
        "start_referral",
        reference,
        customer_number=customer,
        site=site,
        age_group="u25" if age < 25 else "25-49" if age < 50 else "50+",
        service_type=service.service_type,
        provider_code=provider.code,
        caseworker_email=f"ifk.{_slug(site)}@jobcenter.example",
        contact_email=f"kunde.{customer.lower()}@kunden.example" if has_contact else None,
        reminders_consented=has_contact and rng.random() < 0.7,
        consent={"form": rng.choice(["written", "electronic"]), "granted_on": day.isoformat()}
        if needs_consent
        else None,
    )
    # A staged referral starts when the earlier one runs; its provider acts from then on.
    t0 = day + timedelta(days=rng.randint(14, 60)) if staged else day
    story = list(_provider_story(rng, service, t0, providers, provider))
    if service.standard.consent == "status_without":
        story = _sachstand_only(service, story, consented=needs_consent)
    for when, payload in story:
        if when < end:
            plan.add(when, "event", reference, **payload)


def _sachstand_only(
    service: ServiceConfig, story: list[tuple[date, dict[str, Any]]], *, consented: bool
) -> list[tuple[date, dict[str, Any]]]:
    """The story with status-only reports where no consent for content names the provider:
    none given, withdrawn, or the case rerouted to another provider (``consent:
    status_without``, seed 003: Sachstandsbericht only)."""
    steps = story_steps(service)
    ends = [w for w, p in story if p["event"] in (steps.withdraw_consent, steps.reassign)]
    cut = min(ends) if consented and ends else None
    out = []
    for when, payload in story:
        if "feedback" in payload and (not consented or (cut is not None and when >= cut)):
            sachstand = {k: v for k, v in payload["feedback"].items() if k in STATUS}
            payload = {**payload, "feedback": sachstand}
        out.append((when, payload))
    return out


STATUS = frozenset(get_args(StatusAnswer))
"""The status fields of a report: all a Sachstandsbericht carries (seed 003)."""


@dataclass(frozen=True)
class StorySteps:
    """The events the simulation reports for a referral of one process, found in its YAML by
    their attributes (no event name here): the happy path is its ``course``; ``records``,
    ``reason_code`` and the provider's forms (``form.kind``) name the side paths.

    `reports`: (event, deadline) of the reports during counselling, each with the Frist
    the first appointment starts and it meets."""

    book: str
    keep: str
    first_report: str
    reports: tuple[tuple[str, str], ...]
    final: str
    no_show: str
    return_invalid: str
    abort: str
    decline: str
    reassign: str
    withdraw_consent: str
    close: str
    withdraw: str


_STEPS: dict[int, tuple[ProcessDef, StorySteps]] = {}


def story_steps(service: ServiceConfig) -> StorySteps:
    """The `StorySteps` of `service`'s process (computed once per loaded process). Raises
    `StopIteration` or `KeyError` for a process without the Gutschein's lifecycle."""
    process = service.process
    known = _STEPS.get(id(process))
    if known is None or known[0] is not process:
        known = _STEPS[id(process)] = (process, _find_steps(process))
    return known[1]


def _find_steps(p: ProcessDef) -> StorySteps:
    by_event = {t.event: t for t in p.transitions}
    recording = {t.records: t.event for t in p.transitions if t.records}
    keep = by_event[recording["first_appointment_on"]]
    course = [c.event for c in p.course if c.event]
    reports = [by_event[e] for e in course if by_event[e].report]
    in_counselling = [
        (t.event, [d for d in t.complete if d in keep.start][-1])
        for t in reports
        if keep.to in t.from_ and any(d in keep.start for d in t.complete) and t.event != course[-1]
    ]
    dated = [t.event for t in p.transitions if t.form and t.form.kind == "datum"]
    confirmed = [t for t in p.transitions if t.form and t.form.kind == "bestaetigung"]
    caseworker = [  # a caseworker alone ends the case
        t for t in p.transitions if t.by == ["caseworker"] and t.to and p.states[t.to].final
    ]
    return StorySteps(
        book=recording["appointment_on"],
        keep=keep.event,
        first_report=next(t.event for t in reports if p.initial in t.from_),
        reports=tuple(in_counselling),
        final=course[-1],
        no_show=next(e for e in dated if e != keep.event),
        return_invalid=next(t.event for t in confirmed if p.initial in t.from_),
        abort=next(t.event for t in confirmed if keep.to in t.from_ and p.initial not in t.from_),
        decline=next(iter(sorted(p.reason_events))),
        reassign=recording["provider"],
        withdraw_consent=recording["consent_withdrawal"],
        close=next(t.event for t in caseworker if t.outcome != WITHDRAWN),
        withdraw=next(t.event for t in caseworker if t.outcome == WITHDRAWN),
    )


WITHDRAWN = "withdrawn"
"""The outcome of a case the customer withdrew from (``outcome`` in the process YAML)."""


def _slug(text: str) -> str:
    return text.lower().replace(" ", "")


def _provider_story(
    rng: random.Random,
    service: ServiceConfig,
    t0: date,
    providers: Sequence[ProviderSpec],
    provider: ProviderSpec,
) -> Iterator[tuple[date, dict[str, Any]]]:
    """What the provider and caseworker report for one referral, as (day, event) pairs."""
    steps = story_steps(service)
    roll = rng.random()
    if roll < P_RETURNED_INVALID:
        yield t0 + timedelta(days=rng.randint(3, 40)), {"event": steps.return_invalid}
        return
    roll -= P_RETURNED_INVALID
    if roll < P_NEVER_BOOKED:
        return  # the voucher expires by itself
    roll -= P_NEVER_BOOKED
    if roll < P_DECLINED:
        declined = t0 + timedelta(days=rng.randint(1, 7))
        yield declined, {"event": steps.decline}
        others = [p for p in providers if p != provider] or [provider]
        t0 = declined + timedelta(days=rng.randint(2, 9))
        yield t0, {"event": steps.reassign, "provider_code": rng.choice(others).code}
    wait = _wait_days(rng, service.service_type)
    booked = t0 + timedelta(days=min(rng.randint(1, 10), wait - 1))
    appointment = t0 + timedelta(days=wait)
    yield booked, {"event": steps.book, "appointment_on": appointment.isoformat()}
    feedback_day = _report_day(rng, t0, 14)
    if rng.random() < P_NO_SHOW:
        yield appointment, {"event": steps.no_show}
        if rng.random() < 0.3:
            yield (
                appointment + timedelta(days=rng.randint(5, 20)),
                {"event": steps.close},
            )
            return
        rebooked = appointment + timedelta(days=rng.randint(3, 10))
        appointment = rebooked + timedelta(days=rng.randint(7, 21))
        yield rebooked, {"event": steps.book, "appointment_on": appointment.isoformat()}
    yield appointment, {"event": steps.keep}
    if feedback_day is not None:
        yield feedback_day, _feedback(rng, service, steps.first_report)
    yield from _counselling(rng, service, appointment)


def _wait_days(rng: random.Random, service_type: str) -> int:
    if service_type == "schulden":
        return max(2, min(300, round(rng.lognormvariate(math.log(10.8), 2.0))))
    return max(2, min(60, round(rng.lognormvariate(math.log(7.0), 0.6))))


def _report_day(rng: random.Random, start: date, due_days: int) -> date | None:
    """On time (70 %), late (25 %) or never (5 %)."""
    roll = rng.random()
    if roll < 0.70:
        return start + timedelta(days=rng.randint(max(1, due_days - 6), due_days))
    if roll < 0.95:
        return start + timedelta(days=due_days + rng.randint(2, 30))
    return None


def _period_days(service: ServiceConfig, deadline: str) -> int | None:
    period = service.period(deadline)
    if period is None:
        return None
    p = parse_period(period)
    return p.days + 7 * p.weeks + 30 * p.months + 365 * p.years


def _counselling(
    rng: random.Random, service: ServiceConfig, appointment: date
) -> Iterator[tuple[date, dict[str, Any]]]:
    steps = story_steps(service)
    low, high = DURATION[service.service_type]
    end = appointment + timedelta(days=rng.randint(low, high))
    for event, deadline in steps.reports:
        days = _period_days(service, deadline)
        if days is None:
            continue
        when = _report_day(rng, appointment, days)
        if when is not None and when < end:
            yield when, _feedback(rng, service, event)
    if rng.random() < 0.02:
        yield appointment + timedelta(days=rng.randint(5, 30)), {"event": steps.withdraw_consent}
    roll = rng.random()
    if roll < 0.85:
        yield end, _feedback(rng, service, steps.final)
    elif roll < 0.97:
        yield end, {"event": steps.abort}
    else:
        yield end, {"event": steps.withdraw}


def _feedback(rng: random.Random, service: ServiceConfig, event: str) -> dict[str, Any]:
    catalog = service.catalog
    ends = event == story_steps(service).final
    feedback: dict[str, Any] = {
        "appointment_kept": True,
        "counselling_ongoing": not ends,
        "ended": ends,
    }
    if catalog and catalog.need_groups:
        group = rng.choice(catalog.need_groups)
        hours = {m.code: m.individual_hours for m in catalog.modules}
        feedback["need_group"] = group.code
        feedback["modules"] = [
            {"code": m, "hours": round(hours.get(m, 0) or rng.uniform(1, 6), 1)}
            for m in group.modules
        ]
    feedback["content"] = {
        "ausgangssituation": "Simulierte Angaben (Demo).",
        "ergebnis": "Beratung abgeschlossen." if ends else "Beratung läuft.",
    }
    return {"event": event, "feedback": feedback}


# --- the Koordination § 16a works its escalation inbox ---------------------------------

#: Colleagues the coordinator hands escalations to (assigned_to is free text).
COLLEAGUES = ("Frau Yılmaz", "Herr Brandt", "Frau Lehmann", "Herr Nowak")
#: Share of working days the coordinator is away (ill, training, part-time), and a
#: summer leave of two weeks (the inbox grows, some escalations reach the second step).
P_AWAY = 0.08
SUMMER_LEAVE = ((8, 3), (8, 14))  # (month, day) first and last day, every year
#: Escalations one working day leaves room for (low, high).
DAILY_CAPACITY = (4, 12)
#: Chance per working day that an open escalation is acknowledged (seen, taken up), that
#: an acknowledged one is handed to a colleague, and that one is settled after clarifying
#: with the provider (most are resolved by the system when the report arrives).
P_ACKNOWLEDGE = 0.55
P_ASSIGN = 0.35
P_RESOLVE = 0.12


@dataclass(frozen=True)
class InboxItem:
    """An unresolved escalation as the coordinator sees it on a day."""

    id: int
    state: str  # "open" | "acknowledged"
    assigned_to: str | None
    escalated_on: date


Verb = Literal["acknowledge", "assign", "resolve"]


@dataclass(frozen=True)
class CoordinatorAction:
    """One thing the coordinator does: ``acknowledge``, ``assign`` (to `assigned_to`) or
    ``resolve`` escalation `escalation_id`, at `minute` minutes after midnight (local)."""

    escalation_id: int
    action: Verb
    minute: int
    assigned_to: str | None = None


def coordinator_day(day: date, inbox: Sequence[InboxItem], seed: int) -> list[CoordinatorAction]:
    """What the Koordinator/in § 16a does with the inbox on `day`, oldest first.

    Only on working days (NW) and not when away; at most a day's capacity of
    escalations; an open one is acknowledged (sometimes assigned at once), an
    acknowledged one assigned or settled, each with a chance per working day, so some stay
    open a while. Actions lie between 08:00 and 15:00, in order. Pure and deterministic:
    the same `seed` and `day` give the same actions.
    """
    rng = random.Random(f"{seed}:koordination:{day.isoformat()}")
    if not is_working_day(day) or _on_leave(day) or rng.random() < P_AWAY:
        return []
    actions: list[CoordinatorAction] = []
    minute = 8 * 60
    for item in sorted(inbox, key=lambda i: (i.escalated_on, i.id))[: rng.randint(*DAILY_CAPACITY)]:
        minute = min(minute + rng.randint(5, 40), 15 * 60)
        for action, assignee in _handle(rng, item):
            actions.append(CoordinatorAction(item.id, action, minute, assignee))
            minute = min(minute + 1, 15 * 60)
    return actions


def _handle(rng: random.Random, item: InboxItem) -> list[tuple[Verb, str | None]]:
    if item.state == "open":
        if rng.random() >= P_ACKNOWLEDGE:
            return []
        if rng.random() < P_ASSIGN:
            return [("acknowledge", None), ("assign", rng.choice(COLLEAGUES))]
        return [("acknowledge", None)]
    if rng.random() < P_RESOLVE:
        return [("resolve", None)]
    if item.assigned_to is None and rng.random() < P_ASSIGN:
        return [("assign", rng.choice(COLLEAGUES))]
    return []


def _on_leave(day: date) -> bool:
    (m1, d1), (m2, d2) = SUMMER_LEAVE
    return date(day.year, m1, d1) <= day <= date(day.year, m2, d2)
