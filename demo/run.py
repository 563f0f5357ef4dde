"""``kel demo``: a simulated year of a mid-size jobcenter through the real flows.

Set-up: a fresh SQLite file under ``out/``, the shipped Düsseldorf Mindeststandards, the
providers of `demo.behaviour`, a real SMTP server (aiosmtpd) that saves every e-mail
under ``out/mail/``. Then week by week: the week's reports are recorded in the inbox and
one Prefect flow run (`flows.simulation.simulate_days`) sweeps deadlines and applies the
reports day by day on the simulated clock, while the Koordination § 16a works the
escalation inbox on working days (`demo.coordinator`). Finally the Kennzahlen report.
"""

from __future__ import annotations

import os
import shutil
import time
from collections.abc import Callable
from dataclasses import dataclass
from datetime import date, timedelta
from pathlib import Path
from unittest.mock import patch

from sqlmodel import Session, col, func, select

from demo.behaviour import PROVIDERS, Plan, Planned, plan_year
from demo.report import write_report
from models.clock import SystemClock, local_date, start_of_day
from models.db import migrate, session
from models.figures.states import registry_states
from models.kennzahlen import KennzahlenRow, kennzahlen
from models.process import load_registry
from models.tables import Escalation, Notification, Provider, Referral
from notifications import SmtpSink, smtp_url
from tasks.commands import PAYLOADS, record_command
from tasks.escalations import UNRESOLVED
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
    open_escalations: int = 0  # open or acknowledged at the end (the inbox)


def demo_period(today: date, months: int) -> tuple[date, date]:
    """The simulated period that ends yesterday: (first day, `today`), the end exclusive.

    The first day is the same day of the month `months` calendar months before `today`
    (the month's last day where it is shorter), so ``demo.behaviour.plan_year`` plans
    commands up to `today` at the latest (its months from a 1st are calendar months,
    otherwise 30.44 days each: a leap day can end the plan a day earlier).
    """
    month = today.month - 1 - months
    year, month = today.year + month // 12, month % 12 + 1
    last = (date(year + month // 12, month % 12 + 1, 1) - timedelta(days=1)).day
    return date(year, month, min(today.day, last)), today


def run_demo(
    out_dir: Path,
    *,
    months: int = 12,
    scale: float = 0.25,
    seed: int = 2026,
    start: date | None = None,
    today: date | None = None,
    progress: Callable[[int, int, str], None] = lambda done, total, label: None,
) -> DemoResult:
    """Simulate `months` months at `scale` of the Düsseldorf volumes.

    By default the simulated months end yesterday (`demo_period` of `today`, the system
    clock's local date unless given), so the data agree with the dashboard's "Stand"
    (today) when it is served on ``demo.db``: nothing lies in the future, and the deadlines
    "überfällig seit …" count from the same day. With an explicit `start` the months run
    from there, up to the last planned report. Writes ``out_dir/demo.db``,
    ``out_dir/mail/*.eml``, ``out_dir/report.html`` and ``out_dir/report.csv``. The same
    `seed` and period give the same figures. `progress` is called after every simulated
    period with (periods done, periods total, label).
    """
    began = time.monotonic()
    out_dir.mkdir(parents=True, exist_ok=True)
    database = out_dir / "demo.db"
    for stale in (database, out_dir / "demo.db-wal", out_dir / "demo.db-shm"):
        stale.unlink(missing_ok=True)
    shutil.rmtree(out_dir / "mail", ignore_errors=True)
    url = f"sqlite:///{database.resolve()}"
    registry = load_registry()
    until: date | None = None
    if start is None:
        start, until = demo_period(today or local_date(SystemClock().now()), months)
    plan = plan_year(registry, start, months, scale, seed)
    end = max(p.day for p in plan.commands) + timedelta(days=1) if plan.commands else start
    end = until or end
    demo_environment = {
        "KEL_DATABASE_URL": url,
        "KEL_COORDINATOR_EMAIL": "koordination-16a@jobcenter.example",
    }
    # the flows read their settings from the environment: set for the run, restored after
    with SmtpSink(out_dir / "mail") as sink, patch.dict(os.environ, demo_environment):
        os.environ["KEL_SMTP_URL"] = smtp_url(sink.host, sink.port, "kel-flow@jobcenter.example")
        os.environ.pop("KEL_PROCESS_DIR", None)
        migrate(url)
        _create_providers(url)
        totals = _simulate(url, plan, start, end, progress, seed)
        mails = len(sink.messages)
    with session(url) as s:
        states = registry_states(registry)
        rows = kennzahlen(load_case_facts(s), start, end - timedelta(days=1), states)
        referrals = s.exec(select(func.count(col(Referral.id)))).one()
        escalations = s.exec(select(func.count(col(Escalation.id)))).one()
        open_escalations = s.exec(
            select(func.count(col(Escalation.id))).where(col(Escalation.state).in_(UNRESOLVED))
        ).one()
        unsent = s.exec(
            select(func.count(col(Notification.id))).where(Notification.status != "sent")
        ).one()
    wall = time.monotonic() - began
    html, csv = write_report(
        rows,
        out_dir,
        title=f"Kennzahlen §\u00a016a SGB\u00a0II – Simulation ({registry.kommune})",
        period_start=start,
        period_end=end - timedelta(days=1),
        states=states,
        extra={
            "Simulierte Monate": str(months),
            "Skalierung": f"{scale:g}".replace(".", ","),
            "Seed": str(seed),
            "Zuweisungen": str(referrals),
            "Eskalationen": str(escalations),
            "Eskalationen offen (Ende)": str(open_escalations),
            "E-Mails zugestellt": str(mails),
            "E-Mails nicht zugestellt": str(unsent),
            "Laufzeit": f"{wall:.0f} s",
        },
    )
    return DemoResult(
        out_dir,
        database,
        html,
        csv,
        mails,
        wall,
        totals,
        rows,
        referrals,
        escalations,
        open_escalations,
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
    seed: int = 2026,
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
        result = simulate_days(first, days, coordinator_seed=seed)
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
