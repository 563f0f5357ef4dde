"""A case's lifecycle as the Prefect UI shows it (issue 10, point 2): runs named for their
step, the tag ``fall-<Aktenzeichen>`` on every run of the case, the case's card (a keyed
markdown artifact) with states, deadlines and escalations and nothing identifying, and a
refused command ending "Abgelehnt" with the reason."""

from __future__ import annotations

import logging
import re
import uuid
from datetime import date, timedelta
from typing import Any
from uuid import UUID

import pytest
from prefect import State, Task
from prefect.client.orchestration import get_client
from prefect.client.schemas.filters import (
    ArtifactFilter,
    ArtifactFilterFlowRunId,
    ArtifactFilterKey,
    FlowRunFilter,
    FlowRunFilterId,
    FlowRunFilterTags,
)
from prefect.client.schemas.objects import Artifact, FlowRun
from sqlmodel import select

import demo.coordinator
import tasks.prefect_view
import tasks.retention
import tasks.steps
from api.service import Submission, submit
from flows.commands import carry_out_follow_ups
from flows.outcome import REJECTED
from flows.retention import anonymise
from flows.simulation import sweep_at
from models.clock import FakeClock
from models.commands import Intake, ReferralEvent
from models.db import write_session
from models.german import datum
from models.tables import Deadline, User
from models.urls import case_artifact_key, case_tag
from tests.factories import CASEWORKER, PROVIDER, World, at, start_referral

START = date(2026, 3, 2)  # a Monday
REF = "Z-2026-0001"


# --- helpers: what the Prefect server holds ---------------------------------------------


def run_of(state: State[Any]) -> FlowRun:
    run_id = state.state_details.flow_run_id
    assert run_id is not None
    with get_client(sync_client=True) as client:
        return client.read_flow_run(run_id)


def runs_tagged(tag: str) -> list[FlowRun]:
    with get_client(sync_client=True) as client:
        return client.read_flow_runs(
            flow_run_filter=FlowRunFilter(tags=FlowRunFilterTags(all_=[tag]))
        )


def artifacts_of(run_ids: list[UUID], key: str | None = None) -> list[Artifact]:
    wanted = ArtifactFilter(flow_run_id=ArtifactFilterFlowRunId(any_=run_ids))
    if key is not None:
        wanted.key = ArtifactFilterKey(any_=[key])
    with get_client(sync_client=True) as client:
        return client.read_artifacts(artifact_filter=wanted)


def card_of(state: State[Any], reference: str) -> Artifact:
    """The card of `reference` the run of `state` wrote."""
    run_id = state.state_details.flow_run_id
    assert run_id is not None
    [card] = artifacts_of([run_id], case_artifact_key(reference))
    return card


def follow_up(  # type: ignore[no-untyped-def]
    kel: World, kind: str, on: date, payload: object, actor=CASEWORKER, reference: str = REF
) -> State[Any]:
    """Decide and save a command on the API's path, then run its follow-up flow."""
    command = kel.execute(kind, reference, on, payload, actor=actor, now=at(on, 10))
    assert command.id is not None
    state: State[Any] = carry_out_follow_ups(command.id, return_state=True)
    return state


def event(name: str, **extra: object) -> ReferralEvent:
    return ReferralEvent.model_validate({"event": name, **extra})


# --- names ------------------------------------------------------------------------------


def test_a_follow_up_run_is_named_for_the_cases_aktenzeichen_and_step(flow_env: World) -> None:
    kel = flow_env
    started = follow_up(kel, "start_referral", START, start_referral())
    on = START + timedelta(days=3)
    booked = follow_up(
        kel, "event", on, event("appointment_booked", appointment_on="2026-03-09"), PROVIDER
    )
    kept = follow_up(kel, "event", START + timedelta(days=7), event("appointment_kept"), PROVIDER)

    names = [run_of(s).name for s in (started, booked, kept)]
    assert names == [
        f"{REF} · Zuweisung angelegt",
        f"{REF} · Erstgespräch terminiert",
        f"{REF} · Erstgespräch wahrgenommen (Gutschein eingelöst)",
    ]
    assert all(s.is_completed() and s.name == "Completed" for s in (started, booked, kept))


def test_the_sweep_is_named_for_its_day_and_timers_and_tagged_with_each_case(
    flow_env: World,
) -> None:
    kel = flow_env
    kel.start("Z-A", START, customer_number="K1")
    kel.start("Z-B", START, customer_number="K2")

    state = sweep_at(at(START + timedelta(days=11), 6), return_state=True)  # two reminders

    run = run_of(state)
    assert run.name == "Fristprüfung 13.03.2026 · 2 Timer"
    assert {"fall-Z-A", "fall-Z-B"} <= set(run.tags)
    assert {a.key for a in artifacts_of([run.id]) if a.key} == {"fall-z-a", "fall-z-b"}


def test_a_sweep_touching_more_cases_than_the_tag_limit_lists_them_instead(
    flow_env: World, monkeypatch: pytest.MonkeyPatch
) -> None:
    kel = flow_env
    monkeypatch.setattr(tasks.prefect_view, "MAX_CASE_TAGS", 1)
    kel.start("Z-A", START, customer_number="K1")
    kel.start("Z_B", START, customer_number="K2")

    state = sweep_at(at(START + timedelta(days=11), 6), return_state=True)

    run = run_of(state)
    assert not [t for t in run.tags if t.startswith("fall-")]
    artifacts = artifacts_of([run.id])
    [listing] = [a for a in artifacts if a.key is None]
    assert "2 Fälle" in str(listing.description)
    assert "- Z-A" in str(listing.data) and r"- Z\_B" in str(listing.data)
    assert {a.key for a in artifacts if a.key} == {"fall-z-a", case_artifact_key("Z_B")}


def test_the_retention_run_is_named_for_its_day_and_cases(
    flow_env: World, monkeypatch: pytest.MonkeyPatch
) -> None:
    kel = flow_env
    monkeypatch.delenv("KEL_RETENTION_YEARS", raising=False)
    kel.start("Z-1", START, customer_number="K1")
    kel.event("Z-1", START + timedelta(days=30), "customer_withdrew", actor=CASEWORKER)
    clock = FakeClock(at(date(2031, 4, 2), 2))  # five years after the closure on 01.04.2026
    monkeypatch.setattr("flows.retention.SystemClock", lambda: clock)

    run = run_of(anonymise(return_state=True))

    assert run.name == "Anonymisierung 02.04.2031 · 1 Fall"


def test_an_intakes_follow_up_carries_no_customer_number(flow_env: World) -> None:
    kel = flow_env
    facts = {"case": "new_or_reactivated", "age": 31}
    intake = Intake.model_validate({"customer_number": "K-4711", "site": "Aachen", "facts": facts})
    command = kel.execute("intake", "K-4711", START, intake)
    assert command.id is not None

    run = run_of(carry_out_follow_ups(command.id, return_state=True))

    assert run.name == f"Eingangszone · Befehl {command.id}"
    assert not [t for t in run.tags if t.startswith("fall-")]
    assert not artifacts_of([run.id])


def test_the_api_names_the_follow_up_run_when_it_creates_it(flow_env: World) -> None:
    kel = flow_env
    kel.execute("start_referral", REF, START, start_referral())
    kel.add(
        User(
            username="ifk",
            role="caseworker",
            site="Aachen",
            password_hash="-",
            created_at=at(START),
        )
    )
    started: list[tuple[int, list[str], str | None]] = []

    class Recording:
        def start(self, command_id: int, references: list[str], name: str | None = None) -> None:
            started.append((command_id, references, name))

    with write_session(kel.url) as s:
        user = s.exec(select(User)).one()
        accepted = submit(
            s,
            Submission("event", REF, START + timedelta(days=1), event("provider_declined")),
            user=user,
            now=at(START + timedelta(days=1), 10),
            registry=kel.registry,
            settings=kel.settings,
            trigger=Recording(),
        )

    expected = f"{REF} · Träger hat abgelehnt oder keine Kapazität – Neuzuweisung erforderlich"
    assert started == [(accepted.command_id, [REF], expected)]


def test_task_names_are_ascii_so_the_run_graph_draws_them_whole(flow_env: World) -> None:
    """Prefect 3.8's run graph draws ASCII only ("Lauf mit Fllen verschlagworten")."""
    declared = [
        obj
        for module in (tasks.steps, tasks.prefect_view, tasks.retention, demo.coordinator)
        for obj in vars(module).values()
        if isinstance(obj, Task)
    ]
    assert len(declared) >= 8
    assert [t.name for t in declared if not t.name.isascii()] == []
    assert [t.name for t in declared if not str(t.task_run_name or "").isascii()] == []
    # a task run name of its own: no random suffix ("Benachrichtigungen senden-3f2")
    assert [
        t.name for t in declared if t.fn.__module__ != "demo.coordinator" and not t.task_run_name
    ] == []

    state = follow_up(flow_env, "start_referral", START, start_referral())
    with get_client(sync_client=True) as client:
        runs = client.read_task_runs(
            flow_run_filter=FlowRunFilter(id=FlowRunFilterId(any_=[run_of(state).id]))
        )
    names = sorted(r.name for r in runs)
    assert names and all(n.isascii() for n in names)
    assert "Fallakten aktualisieren" in names and "Benachrichtigungen senden" in names


# --- tags -------------------------------------------------------------------------------


def test_every_run_of_the_case_carries_its_tag(flow_env: World) -> None:
    kel = flow_env
    started = follow_up(kel, "start_referral", START, start_referral())
    kel.start("Z-OTHER", START, customer_number="K2")
    swept = sweep_at(at(START + timedelta(days=11), 6), return_state=True)

    tagged = {r.id for r in runs_tagged(case_tag(REF))}

    assert {run_of(started).id, run_of(swept).id} <= tagged
    assert case_tag(REF) == "fall-Z-2026-0001"


# --- the card ---------------------------------------------------------------------------


def test_the_card_shows_states_deadlines_and_escalations(flow_env: World) -> None:
    kel = flow_env
    first = follow_up(kel, "start_referral", START, start_referral())
    booked = event("appointment_booked", appointment_on="2026-03-09")
    follow_up(kel, "event", START + timedelta(days=3), booked, PROVIDER)
    follow_up(kel, "event", START + timedelta(days=7), event("appointment_kept"), PROVIDER)
    swept = sweep_at(at(START + timedelta(days=40), 6), return_state=True)  # 11.04.2026

    assert case_artifact_key(REF) == "fall-z-2026-0001"
    opened = str(card_of(first, REF).data)
    assert f"| {datum(START)} | Zuweisung angelegt | Gutschein ausgegeben |" in opened
    card = card_of(swept, REF)
    text = str(card.data)
    with kel.session() as s:
        deadlines = {d.kind: d for d in s.exec(select(Deadline))}
    appointment, feedback = deadlines["first_appointment"], deadlines["first_feedback"]
    assert text.startswith(f"# Fall {REF}\n")
    assert "**Zustand:** In Beratung (seit 09.03.2026)" in text
    assert "| 09.03.2026 | Erstgespräch wahrgenommen (Gutschein eingelöst) | In Beratung |" in text
    assert (
        f"| Erstgespräch | 02.03.2026 | {datum(appointment.due_on)} | erfüllt am 09.03.2026 |"
        in text
    )
    overdue = (date(2026, 4, 11) - feedback.due_on).days
    assert (
        f"| 1. Rückmeldung | 02.03.2026 | {datum(feedback.due_on)} | "
        f"überfällig seit {overdue} Tagen |" in text
    )
    assert "| 1. Rückmeldung | Koordination §\u00a016a | offen |" in text
    assert "| 11.04.2026 | Eskalation an die Koordination: 1. Rückmeldung |  |" in text
    assert card.description == (
        f"Fall {REF}: In Beratung · 3 Fristen offen, davon 1 überfällig · 1 Eskalation offen"
    )


HOSTILE = {
    "customer_number": "K-GEHEIM-4711",
    "contact_email": "erika.geheim@privat.example",
    "caseworker_email": "ifk.geheim@jobcenter.example",
    "content": "Rückfall nach Spielsucht, Schulden bei Herrn Müller",
}


def test_nothing_in_prefect_identifies_the_person_or_tells_report_content(
    flow_env: World, caplog: pytest.LogCaptureFixture
) -> None:
    # only this test's runs carry its tag: the Prefect test server is shared by the
    # SQLite and the PostgreSQL run of this test
    kel, ref = flow_env, f"Z-HOSTILE-{uuid.uuid4().hex[:8].upper()}"
    referral = start_referral(
        "sucht",
        "SUCHT-CARITAS",
        customer_number=HOSTILE["customer_number"],
        contact_email=HOSTILE["contact_email"],
        reminders_consented=True,
        caseworker_email=HOSTILE["caseworker_email"],
    )
    report = {"ended": True, "content": {"ergebnis": HOSTILE["content"]}}
    booked = event("appointment_booked", appointment_on="2026-03-05")
    final = event("final_report", feedback=report)
    with caplog.at_level(logging.DEBUG):
        follow_up(kel, "start_referral", START, referral, reference=ref)
        follow_up(kel, "event", START + timedelta(days=3), booked, PROVIDER, ref)
        follow_up(kel, "event", START + timedelta(days=3), event("appointment_kept"), PROVIDER, ref)
        sweep_at(at(START + timedelta(days=30), 6))
        last = follow_up(kel, "event", START + timedelta(days=31), final, PROVIDER, ref)

    runs = runs_tagged(case_tag(ref))
    cards = artifacts_of([r.id for r in runs])
    assert len(runs) == 5 and len(cards) == 5
    assert "Abgeschlossen" in str(card_of(last, ref).data)
    shown = [
        *(
            f"{r.name} {r.tags} {r.parameters} {r.state_name} {r.state and r.state.message}"
            for r in runs
        ),
        *(f"{a.data} {a.description}" for a in cards),
        *(r.getMessage() for r in caplog.records if r.name.startswith("prefect")),
    ]
    secrets = [
        *HOSTILE.values(),
        "Spielsucht",
        "Suchtberatung",  # the Leistungsart would tell health data
        "SUCHT-CARITAS",
        "traeger.caritas",  # who acted
        "ifk.mueller",
        "@",
    ]
    leaks = [(secret, text) for text in shown for secret in secrets if secret in text]
    assert leaks == []


# --- refused ----------------------------------------------------------------------------


def test_a_refused_command_ends_abgelehnt_and_says_why(
    flow_env: World, caplog: pytest.LogCaptureFixture
) -> None:
    kel = flow_env
    follow_up(kel, "start_referral", START, start_referral())
    # reported from the inbox before the appointment was booked: the process refuses it
    command = kel.record(
        "event", REF, START + timedelta(days=2), event("appointment_kept"), PROVIDER
    )
    assert kel.apply(at(START + timedelta(days=2), 17)).rejected == 1
    assert command.id is not None

    with caplog.at_level(logging.WARNING):
        state = carry_out_follow_ups(command.id, return_state=True)

    why = (
        f"Befehl {command.id} (Erstgespräch wahrgenommen (Gutschein eingelöst)) abgelehnt: "
        "Schritt im Zustand „Gutschein ausgegeben“ nicht zulässig "
        "(Einzelheiten auf der Fallseite im Dashboard)"
    )
    assert state.is_completed() and (state.name, state.message) == (REJECTED, why)
    assert REJECTED == "Abgelehnt"
    run = run_of(state)
    assert run.state_name == "Abgelehnt"
    assert run.name == f"{REF} · Erstgespräch wahrgenommen (Gutschein eingelöst)"
    assert case_tag(REF) in run.tags
    assert f"Abgelehnt: {why}" in [r.getMessage() for r in caplog.records]
    assert "Gutschein ausgegeben" in str(card_of(state, REF).data)


def test_a_follow_up_for_an_unknown_command_ends_abgelehnt(flow_env: World) -> None:
    state = carry_out_follow_ups(999_999, return_state=True)

    assert (state.name, state.message) == (REJECTED, "Befehl 999999 gibt es nicht; nichts zu tun")
    assert run_of(state).name == "Befehl 999999"


# --- keys (pure) ------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("reference", "key"),
    [("Z-2026-0001", "fall-z-2026-0001"), ("AC-17", "fall-ac-17"), ("123", "fall-123")],
)
def test_the_usual_aktenzeichen_gives_a_plain_artifact_key(reference: str, key: str) -> None:
    assert case_artifact_key(reference) == key


def test_aktenzeichen_that_normalise_alike_keep_keys_of_their_own() -> None:
    references = ["Z-1", "z-1", "Z_1", "Z.1", "z.1", "Z-1.a", "Z-1-A"]
    keys = [case_artifact_key(r) for r in references]
    assert len(set(keys)) == len(references)
    assert all(re.fullmatch(r"[a-z0-9-]+", k) for k in keys)
    assert keys[2].startswith("fall-z-1-") and len(keys[2]) == len("fall-z-1-") + 8
