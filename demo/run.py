"""``kel demo``: a simulated year of a mid-size jobcenter through the real flows.

Set-up: a fresh SQLite file under ``out/``, the shipped Düsseldorf Mindeststandards, the
providers of `demo.behaviour`, a real SMTP server (aiosmtpd) that saves every e-mail
under ``out/mail/``. Then week by week: the week's reports are recorded in the inbox and
one Prefect flow run (`flows.simulation.simulate_days`) sweeps deadlines and applies the
reports day by day on the simulated clock. Finally the Kennzahlen report.
"""

from __future__ import annotations

import os
import shutil
import time
from collections.abc import Callable
from dataclasses import dataclass
from datetime import date, timedelta
from pathlib import Path

from sqlmodel import Session, col, func, select

from demo.behaviour import PROVIDERS, Plan, Planned, plan_year
from demo.report import write_report
from models.clock import start_of_day
from models.db import migrate, session
from models.kennzahlen import KennzahlenRow, kennzahlen
from models.process import load_registry
from models.tables import Escalation, Notification, Provider, Referral
from notifications import SmtpSink, smtp_url
from tasks.commands import PAYLOADS, record_command
from tasks.kennzahlen import load_case_facts
from tasks.repository import Actor

DEMO_ACTOR = Actor("demo", "system")
#: Simulated days per Prefect flow run: a flow run costs about a second here, so the
#: year is batched into two-week runs (DESIGN §5).
PERIOD_DAYS = 14


@dataclass(frozen=True)
class DemoResult:
    out_dir: Path
    database: Path
    report_html: Path
    report_csv: Path
    mails: int
    wall_seconds: float
    totals: dict[str, int]
    rows: list[KennzahlenRow]
    referrals: int
    escalations: int


def run_demo(
    out_dir: Path,
    *,
    months: int = 12,
    scale: float = 0.25,
    seed: int = 2026,
    start: date = date(2026, 1, 1),
    progress: Callable[[int, int, str], None] = lambda done, total, label: None,
) -> DemoResult:
    """Simulate `months` months from `start` at `scale` of the Düsseldorf volumes.

    Writes ``out_dir/demo.db``, ``out_dir/mail/*.eml``, ``out_dir/report.html`` and
    ``out_dir/report.csv``. The same `seed` gives the same figures. `progress` is called
    after every simulated period with (periods done, periods total, label).
    """
    began = time.monotonic()
    out_dir.mkdir(parents=True, exist_ok=True)
    database = out_dir / "demo.db"
    for stale in (database, out_dir / "demo.db-wal", out_dir / "demo.db-shm"):
        stale.unlink(missing_ok=True)
    shutil.rmtree(out_dir / "mail", ignore_errors=True)
    url = f"sqlite:///{database.resolve()}"
    registry = load_registry()
    plan = plan_year(registry, start, months, scale, seed)
    end = max(p.day for p in plan.commands) + timedelta(days=1) if plan.commands else start
    with SmtpSink(out_dir / "mail") as sink:
        os.environ.update(
            KEL_DATABASE_URL=url,
            KEL_SMTP_URL=smtp_url(sink.host, sink.port, "kel-flow@jobcenter.example"),
            KEL_COORDINATOR_EMAIL="koordination-16a@jobcenter.example",
        )
        os.environ.pop("KEL_PROCESS_DIR", None)
        migrate(url)
        _create_providers(url)
        totals = _simulate(url, plan, start, end, progress)
        mails = len(sink.messages)
    with session(url) as s:
        rows = kennzahlen(load_case_facts(s), start, end - timedelta(days=1))
        referrals = s.exec(select(func.count(col(Referral.id)))).one()
        escalations = s.exec(select(func.count(col(Escalation.id)))).one()
        unsent = s.exec(
            select(func.count(col(Notification.id))).where(Notification.status != "sent")
        ).one()
    wall = time.monotonic() - began
    html, csv = write_report(
        rows,
        out_dir,
        title=f"Kennzahlen § 16a SGB II – Simulation ({registry.kommune})",
        period_start=start,
        period_end=end - timedelta(days=1),
        extra={
            "Simulierte Monate": str(months),
            "Skalierung": f"{scale:g}".replace(".", ","),
            "Seed": str(seed),
            "Zuweisungen": str(referrals),
            "Eskalationen": str(escalations),
            "E-Mails zugestellt": str(mails),
            "E-Mails nicht zugestellt": str(unsent),
            "Laufzeit": f"{wall:.0f} s",
        },
    )
    return DemoResult(
        out_dir, database, html, csv, mails, wall, totals, rows, referrals, escalations
    )


def _create_providers(url: str) -> None:
    with session(url) as s:
        for spec in PROVIDERS:
            s.add(
                Provider(
                    code=spec.code,
                    name=spec.name,
                    email=spec.email,
                    service_types=list(spec.service_types),
                    sites=list(spec.sites),
                    monthly_capacity=spec.monthly_capacity,
                )
            )


def _simulate(
    url: str,
    plan: Plan,
    start: date,
    end: date,
    progress: Callable[[int, int, str], None],
) -> dict[str, int]:
    from flows.simulation import simulate_days

    by_day = plan.by_day()
    periods = max(1, -(-(end - start).days // PERIOD_DAYS))
    totals: dict[str, int] = {}
    for period in range(periods):
        first = start + timedelta(days=PERIOD_DAYS * period)
        days = min(PERIOD_DAYS, (end - first).days)
        with session(url) as s:
            for offset in range(days):
                day = first + timedelta(days=offset)
                _record_day(s, day, by_day.get(day, []))
        result = simulate_days(first, days)
        for key, value in result.items():
            totals[key] = totals.get(key, 0) + value
        progress(period + 1, periods, f"{first:%d.%m.%Y} – {first + timedelta(days - 1):%d.%m.%Y}")
    return totals


def _record_day(s: Session, day: date, planned: list[Planned]) -> None:
    received = start_of_day(day) + timedelta(hours=9)
    for item in planned:
        record_command(
            s,
            item.kind,
            item.reference,
            day,
            PAYLOADS[item.kind].model_validate(item.payload),
            now=received,
            actor=DEMO_ACTOR,
        )
