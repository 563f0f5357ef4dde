"""Versioned process definitions (issue 10, point 4).

A referral keeps the version of the definition it started with; a changed Kommune file
applies to new referrals; ``kel check-config`` says what a change would mean for running
cases; ``kel process migrate-cases`` moves them explicitly, with an audit entry each, and
refuses when a case's state is gone from the new version. SQLite and PostgreSQL.
"""

from __future__ import annotations

import shutil
from datetime import date, timedelta
from pathlib import Path
from typing import Any

import pytest
from sqlmodel import SQLModel, col, select
from typer.testing import CliRunner

from cli.main import app as kel_cli
from models.process import SHIPPED_DIR, load_registry
from models.tables import AuditEvent, Deadline, ProcessVersion, Referral
from tasks.process_versions import current_version, service_for
from tasks.sweep import fire_due_timers
from tests.factories import World, at, provider, world

STARTED = date(2026, 3, 2)  # Monday
BOOKED = date(2026, 3, 4)
KEPT = date(2026, 3, 9)  # Monday; + 6 weeks = 20.4.2026, + 8 weeks = 4.5.2026 (no holiday)
P6W_LINE = "      interim_report: P6W          # Zwischenmeldung nach 6 Wochen"


def copy_with(tmp_path: Path, name: str, *edits: tuple[str, str, str]) -> Path:
    """A copy of the shipped definitions; each edit (file, old, new) replaces every `old`."""
    target = tmp_path / name
    shutil.copytree(SHIPPED_DIR, target, ignore=shutil.ignore_patterns("kommunen"))
    for file, old, new in edits:
        path = target / file
        text = path.read_text(encoding="utf-8")
        assert old in text, (file, old)
        path.write_text(text.replace(old, new), encoding="utf-8")
    return target


@pytest.fixture
def p8w(tmp_path: Path) -> Path:
    """The Kommune file with the Schuldnerberatung's Zwischenmeldung after 8 weeks."""
    return copy_with(
        tmp_path, "p8w", ("duesseldorf.yaml", P6W_LINE, P6W_LINE.replace("P6W", "P8W"))
    )


@pytest.fixture
def without_no_show(tmp_path: Path) -> Path:
    """A definition whose state (and event, deadline) ``no_show`` is renamed ``missed``."""
    return copy_with(
        tmp_path,
        "renamed",
        ("kel_referral.yaml", "no_show", "missed"),
        ("duesseldorf.yaml", "no_show", "missed"),
    )


@pytest.fixture
def w(db_url: str) -> World:
    kel = world(db_url)
    kel.add(provider("SB-CARITAS", ("schulden",)))
    return kel


def rows(kel: World, model: type[SQLModel], *where: Any) -> list[Any]:
    with kel.session() as s:
        return list(s.exec(select(model).where(*where).order_by(col(model.id))))  # type: ignore[attr-defined]


def referral(kel: World, reference: str) -> Referral:
    (found,) = rows(kel, Referral, Referral.reference == reference)
    return found  # type: ignore[no-any-return]


def interim(kel: World, reference: str) -> Deadline:
    (found,) = rows(
        kel,
        Deadline,
        Deadline.referral_id == referral(kel, reference).id,
        Deadline.kind == "interim_report",
    )
    return found  # type: ignore[no-any-return]


def into_counselling(kel: World, reference: str) -> None:
    kel.event(reference, BOOKED, "appointment_booked", appointment_on=KEPT)
    kel.event(reference, KEPT, "appointment_kept")


def cli(*args: str) -> tuple[int, str]:
    result = CliRunner().invoke(kel_cli, list(args))
    return result.exit_code, " ".join(result.output.split())


def test_a_running_referral_keeps_p6w_after_the_kommune_file_changes_to_p8w(
    w: World, p8w: Path
) -> None:
    shipped = current_version(w.registry.service("schulden"))
    w.start("REF-OLD", STARTED, customer_number="K000001")

    w.registry = load_registry(p8w)  # the Kommune edits its file; the system restarts
    w.start("REF-NEW", STARTED, customer_number="K000002")
    into_counselling(w, "REF-OLD")
    into_counselling(w, "REF-NEW")

    old, new = interim(w, "REF-OLD"), interim(w, "REF-NEW")
    assert (old.period, old.due_on) == ("P6W", KEPT + timedelta(weeks=6))
    assert (new.period, new.due_on) == ("P8W", KEPT + timedelta(weeks=8))
    changed = current_version(w.registry.service("schulden"))
    assert changed != shipped
    assert referral(w, "REF-OLD").process_version == shipped
    assert referral(w, "REF-NEW").process_version == changed
    stored = rows(w, ProcessVersion, ProcessVersion.service_type == "schulden")
    assert [v.version for v in stored] == [shipped, changed]


def test_the_sweep_fires_the_ladder_of_the_referrals_version(w: World, tmp_path: Path) -> None:
    expiry = "{offset: P1D, action: event, event: voucher_expired}"
    no_expiry = copy_with(
        tmp_path, "no-expiry", ("kel_referral.yaml", expiry, "{offset: P1D, action: escalate}")
    )
    w.start("REF-OLD", STARTED, customer_number="K000001")
    w.registry = load_registry(no_expiry)
    w.start("REF-NEW", STARTED, customer_number="K000002")

    fire_due_timers(w.session, w.registry, w.settings, at(STARTED + timedelta(weeks=5), 6))

    assert referral(w, "REF-OLD").state == "closed"  # its version lets the voucher expire
    assert referral(w, "REF-NEW").state == "voucher_issued"  # the new one escalates instead


def test_a_referral_without_a_version_follows_the_current_definition(w: World, p8w: Path) -> None:
    w.start("REF-LEGACY", STARTED)
    with w.session() as s:  # as left by the upgrade: started before versions were kept
        row = s.exec(select(Referral).where(Referral.reference == "REF-LEGACY")).one()
        row.process_version = None
        s.add(row)
    w.registry = load_registry(p8w)

    with w.session() as s:
        legacy = s.exec(select(Referral).where(Referral.reference == "REF-LEGACY")).one()
        assert service_for(s, w.registry, legacy) is w.registry.service("schulden")
    into_counselling(w, "REF-LEGACY")
    assert interim(w, "REF-LEGACY").period == "P8W"


def test_check_config_reports_what_the_change_means_for_running_cases(w: World, p8w: Path) -> None:
    shipped = current_version(w.registry.service("schulden"))
    w.start("REF-1", STARTED, customer_number="K000001")
    w.start("REF-2", STARTED, customer_number="K000002")

    code, unchanged = cli("check-config", "--database-url", w.url)
    assert code == 0
    assert "Alle laufenden Fälle laufen auf der aktuellen Prozessversion" in unchanged

    code, output = cli("check-config", "--process-dir", str(p8w), "--database-url", w.url)
    assert code == 0, output
    assert f"Version {shipped}: 2 laufende Fälle" in output
    assert "Zwischenmeldung: P6W → P8W: 2 laufende Fälle behalten P6W" in output
    assert "kel process migrate-cases schulden" in output


def test_migrate_cases_moves_running_cases_with_one_audit_entry_each(w: World, p8w: Path) -> None:
    shipped = current_version(w.registry.service("schulden"))
    w.start("REF-1", STARTED, customer_number="K000001")
    w.start("REF-2", STARTED, customer_number="K000002")
    args = ["process", "migrate-cases", "schulden", "--process-dir", str(p8w)]

    code, output = cli(*args, "--database-url", w.url, "--dry-run")
    assert code == 0, output
    assert "2 laufende Fälle würden umgestellt" in output
    assert referral(w, "REF-1").process_version == shipped

    code, output = cli(*args, "--database-url", w.url)
    assert code == 0, output
    new = current_version(load_registry(p8w).service("schulden"))
    assert f"2 laufende Fälle umgestellt auf Version {new}" in output
    assert {referral(w, r).process_version for r in ("REF-1", "REF-2")} == {new}
    audits = rows(w, AuditEvent, AuditEvent.action == "process_version_migrated")
    assert [(a.referral_id, a.detail) for a in audits] == [
        (referral(w, r).id, {"old_version": shipped, "new_version": new})
        for r in ("REF-1", "REF-2")
    ]
    assert audits[0].role == "admin" and audits[0].actor.startswith("cli:")
    w.registry = load_registry(p8w)
    into_counselling(w, "REF-1")
    assert interim(w, "REF-1").period == "P8W"
    code, output = cli("check-config", "--process-dir", str(p8w), "--database-url", w.url)
    assert "Alle laufenden Fälle laufen auf der aktuellen Prozessversion" in output


def test_migrate_cases_refuses_cases_whose_state_the_new_version_lacks(
    w: World, without_no_show: Path
) -> None:
    shipped = current_version(w.registry.service("schulden"))
    w.start("REF-1", STARTED, customer_number="K000001")
    w.start("REF-2", STARTED, customer_number="K000002")
    w.event("REF-2", BOOKED, "appointment_booked", appointment_on=KEPT)
    w.event("REF-2", KEPT, "no_show")

    code, output = cli(
        "process",
        "migrate-cases",
        "schulden",
        "--process-dir",
        str(without_no_show),
        "--database-url",
        w.url,
    )

    assert code == 1
    assert "Keine Fälle umgestellt" in output
    assert "REF-2: Zustand „Erstgespräch nicht wahrgenommen“ gibt es nicht mehr" in output
    assert "REF-2: offene Frist „Reaktion auf Nichterscheinen“ gibt es nicht mehr" in output
    assert "REF-1:" not in output
    assert {referral(w, r).process_version for r in ("REF-1", "REF-2")} == {shipped}
    assert rows(w, AuditEvent, AuditEvent.action == "process_version_migrated") == []
