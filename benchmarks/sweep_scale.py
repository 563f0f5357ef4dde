"""The deadline sweep with 10,000 due timers among 1,000,000 open referrals (PostgreSQL).

The data is generated in bulk in a database of its own (``INSERT … SELECT
generate_series``, dropped afterwards), shaped like a referral started through the API
(`tasks.commands`): customer, referral in ``voucher_issued``, Gutschein, the three
Fristen of the Düsseldorf Mindeststandards (Gutschein 4 weeks, Erstgespräch and
1. Rückmeldung 14 days) and their seven timers. Of the referrals, `due` were started 11
days ago: their Erstgespräch reminder to the provider (3 days before the Frist) is due
this morning; every other referral was started 0 to 10 days
ago, so none of its timers is due. The sweep (`tasks.sweep.fire_due_timers`, the work of
the ``fristen-pruefen`` flow's first task) runs at 10:00 today. Target: < 10 s.
"""

from __future__ import annotations

import time
from datetime import date, timedelta
from functools import partial

from rich.console import Console
from sqlalchemy import func, select, text

from benchmarks.common import PROVIDERS, Figure, postgres_database, seed_accounts
from models.clock import SystemClock, local_date, start_of_day
from models.db import engine, session
from models.process import load_registry
from models.settings import Settings
from models.tables import Notification
from tasks.sweep import fire_due_timers

#: (deadline slot, step, action, days after the start) of a referral's seven timers, as
#: `tasks.commands` creates them for a start on a Monday (tests/integration/test_sweep.py).
TIMERS = (
    (1, 0, "remind_customer", 23),
    (1, 1, "event", 29),
    (2, 0, "remind_provider", 11),
    (2, 1, "notify_caseworker", 15),
    (2, 2, "escalate", 22),
    (3, 0, "notify_caseworker", 15),
    (3, 1, "escalate", 22),
)
DEADLINES = (
    (1, "voucher_validity", "Gültigkeit des Gutscheins", "P4W", 28),
    (2, "first_appointment", "Erstgespräch", "P14D", 14),
    (3, "first_feedback", "1. Rückmeldung", "P14D", 14),
)


def generate(url: str, referrals: int, due: int, today: date) -> float:
    """Fill `url` (migrated, with `seed_accounts`); returns the seconds it took."""
    started = time.perf_counter()
    timers = ", ".join(f"({d}, {s}, '{a}', {days})" for d, s, a, days in TIMERS)
    deadlines = ", ".join(f"({n}, '{k}', '{t}', '{p}', {days})" for n, k, t, p, days in DEADLINES)
    statements = [
        """INSERT INTO customer (id, customer_number, site, age_group)
           SELECT i, 'K' || lpad(i::text, 8, '0'), 'Aachen', '25-49'
           FROM generate_series(1, :n) AS i""",
        """INSERT INTO referral (id, reference, customer_id, service_type, provider_id, site,
               caseworker_email, state, state_since, started_on, created_at, updated_at)
           SELECT i, 'BM-' || lpad(i::text, 8, '0'), i, 'schulden', 1 + i % :providers,
               'Aachen', 'ifk.aachen@jobcenter.example', 'voucher_issued', s, s,
               s::timestamp AT TIME ZONE 'Europe/Berlin', s::timestamp AT TIME ZONE 'Europe/Berlin'
           FROM (SELECT i, CASE WHEN i <= :due THEN CAST(:today AS date) - 11
                                ELSE CAST(:today AS date) - (i % 11) END AS s
                 FROM generate_series(1, :n) AS i) AS x""",
        """INSERT INTO voucher (id, number, referral_id, provider_id, issued_on, status)
           SELECT id, 'GS-BM-' || lpad(id::text, 8, '0'), id, provider_id, started_on, 'issued'
           FROM referral""",
        f"""INSERT INTO deadline (id, referral_id, kind, title, period, started_on, due_on, state)
           SELECT 3 * r.id - 3 + d.n, r.id, d.kind, d.title, d.period, r.started_on,
               r.started_on + d.days, 'open'
           FROM referral AS r CROSS JOIN (VALUES {deadlines}) AS d(n, kind, title, period, days)""",
        f"""INSERT INTO timer (deadline_id, referral_id, step, action, fire_at)
           SELECT 3 * r.id - 3 + t.d, r.id, t.step, t.action,
               (r.started_on + t.days)::timestamp AT TIME ZONE 'Europe/Berlin'
           FROM referral AS r CROSS JOIN (VALUES {timers}) AS t(d, step, action, days)""",
    ]
    params = {"n": referrals, "due": due, "today": today, "providers": PROVIDERS}
    with engine(url).begin() as connection:
        for statement in statements:
            connection.execute(text(statement), params)
        for table in ("customer", "referral", "voucher", "deadline", "timer"):
            connection.execute(
                text(
                    f"SELECT setval(pg_get_serial_sequence('{table}', 'id'), "
                    f"(SELECT max(id) FROM {table}))"
                )
            )
    with engine(url).connect().execution_options(isolation_level="AUTOCOMMIT") as connection:
        connection.execute(text("VACUUM ANALYZE"))
    return time.perf_counter() - started


def run(console: Console, referrals: int = 1_000_000, due: int = 10_000) -> list[Figure]:
    counts = f"{due:,} fällige Timer; {referrals:,} offene Zuweisungen".replace(",", ".")
    section = f"Fristenprüfung ({counts.replace(';', ',')})"
    today = local_date(SystemClock().now())
    now = start_of_day(today) + timedelta(hours=10)
    with postgres_database("kel_bench_sweep") as url:
        seed_accounts(url)
        seconds = generate(url, referrals, due, today)
        console.print(f"  Daten erzeugt in {seconds:.0f} s")
        settings = Settings(database_url=url)
        registry = load_registry()
        started = time.perf_counter()
        swept = fire_due_timers(partial(session, url), registry, settings, now)
        took = time.perf_counter() - started
        with session(url) as s:
            queued = s.scalar(select(func.count()).select_from(Notification))
    console.print(
        f"  Sweep: {swept.fired} Timer in {took:.1f} s ({swept.acted} wirksam), "
        f"{queued} E-Mails eingereiht"
    )
    note = "" if swept.fired == due else f"nur {swept.fired} Timer ausgelöst"
    return [
        Figure(section, "Dauer des Sweeps", took, "s", 10.0, note=note),
        Figure(section, "Timer je Sekunde", swept.fired / took if took else None, "/s"),
        Figure(section, "Daten erzeugen (nicht Teil des Ziels)", seconds, "s"),
    ]
