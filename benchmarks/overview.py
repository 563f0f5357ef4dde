"""Benchmark: the dashboard's Übersicht with many cases (issue 4: < 300 ms server time).

Creates a SQLite database with Alembic, bulk-inserts `--cases` referrals with their
customers, vouchers, deadlines and escalations (SQLAlchemy Core ``insert()``,
executemany), then requests ``/dashboard/`` as the coordinator through FastAPI's
TestClient and prints the median and 90th percentile in milliseconds.

    .venv/bin/python benchmarks/overview.py --cases 100000 --db /tmp/kel-bench.db

Not a test: the figure depends on the machine.
"""

from __future__ import annotations

import argparse
import os
import random
import re
import secrets
import statistics
import sys
import time
from collections.abc import Sequence
from datetime import UTC, date, datetime, timedelta
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
os.environ.setdefault("PREFECT_SERVER_ANALYTICS_ENABLED", "false")

from fastapi import FastAPI
from fastapi.testclient import TestClient
from sqlalchemy import Connection, func, insert, select

from api.main import create_app
from api.security import hash_password
from api.trigger import InProcess
from models.clock import FakeClock, start_of_day
from models.db import engine, migrate
from models.process import Registry, load_registry
from models.settings import Settings
from models.tables import (
    Customer,
    Deadline,
    Escalation,
    Provider,
    Referral,
    User,
    Voucher,
)

TODAY = date(2026, 6, 15)
SITES = ("Aachen", "Eschweiler", "Stolberg", "Alsdorf", "Herzogenrath", "Würselen", "Monschau")
PASSWORD = "Benchmark-2026!"
CHUNK = 20_000
JWT_SECRET = secrets.token_hex(32)  # a weak key ("b" * 64) is refused by the settings


def main(argv: Sequence[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--cases", type=int, default=100_000, help="Zuweisungen (100000)")
    parser.add_argument("--db", type=Path, default=Path("/tmp/kel-bench.db"), help="SQLite file")
    parser.add_argument("--runs", type=int, default=30, help="timed requests (30)")
    parser.add_argument("--reuse", action="store_true", help="keep an existing database")
    args = parser.parse_args(argv)

    url = f"sqlite:///{args.db}"
    registry = load_registry()
    if not (args.reuse and args.db.exists()):
        for suffix in ("", "-wal", "-shm"):
            Path(f"{args.db}{suffix}").unlink(missing_ok=True)
        started = time.perf_counter()
        migrate(url)
        with engine(url).begin() as connection:
            populate(connection, registry, args.cases, random.Random(16))
        with engine(url).connect() as connection:
            connection.exec_driver_sql("PRAGMA wal_checkpoint(TRUNCATE)")
        print(f"Datenbank angelegt in {time.perf_counter() - started:.1f} s")
    report_database(url, args.db)

    settings = Settings(database_url=url, jwt_secret=JWT_SECRET)
    clock = FakeClock(start_of_day(TODAY) + timedelta(hours=9))
    app = create_app(settings, clock=clock, trigger=InProcess())
    for username, role in (("koordination", "Koordination"), ("traeger", "Träger")):
        times, size = time_overview(app, username, args.runs)
        p90 = times[min(len(times) - 1, int(0.9 * len(times)))]
        print(
            f"Übersicht als {role}, {args.runs} Abrufe: "
            f"Median {statistics.median(times):.1f} ms, p90 {p90:.1f} ms, "
            f"min {times[0]:.1f} ms, max {times[-1]:.1f} ms (Seite {size / 1024:.0f} KiB)"
        )


def time_overview(app: FastAPI, username: str, runs: int) -> tuple[list[float], int]:
    """Sorted times in ms of `runs` requests of the overview, after one warm-up."""
    with TestClient(app) as client:
        form = client.get("/dashboard/anmelden")  # the login form carries its CSRF token
        token = re.search(r'name="csrf_token" value="([^"]+)"', form.text)
        assert token is not None, "Anmeldeformular ohne CSRF-Token"
        answer = client.post(
            "/dashboard/anmelden",
            data={"username": username, "password": PASSWORD, "csrf_token": token[1]},
            follow_redirects=False,
        )
        assert answer.status_code == 303, answer.text
        client.get("/dashboard/").raise_for_status()  # warm-up: templates, caches
        times = []
        for _ in range(runs):
            start = time.perf_counter()
            page = client.get("/dashboard/")
            times.append((time.perf_counter() - start) * 1000)
            page.raise_for_status()
    return sorted(times), len(page.content)


def populate(connection: Connection, registry: Registry, cases: int, rnd: random.Random) -> None:
    """Providers, a coordinator, and `cases` referrals with customers, vouchers, deadlines
    and escalations, in chunks of executemany inserts."""
    services = sorted(registry.services)
    providers: list[dict[str, Any]] = [
        {
            "id": n + 1,
            "code": f"{service[:5].upper()}-{n + 1:02d}",
            "name": f"Träger {n + 1} ({registry.service(service).title})",
            "email": f"traeger{n + 1}@traeger.example",
            "service_types": [service],
            "sites": list(SITES),
            "monthly_capacity": rnd.randint(10, 80),
        }
        for n, service in enumerate(services * 4)
    ]
    connection.execute(insert(Provider), providers)
    now = start_of_day(TODAY)
    password_hash = hash_password(PASSWORD)
    connection.execute(
        insert(User),
        [
            {
                "username": username,
                "role": role,
                "provider_id": provider_id,
                "password_hash": password_hash,
                "active": True,
                "created_at": now,
            }
            for username, role, provider_id in (
                ("koordination", "coordinator", None),
                ("traeger", "provider", 1),
            )
        ],
    )
    by_service: dict[str, list[int]] = {}
    for p in providers:
        by_service.setdefault(p["service_types"][0], []).append(p["id"])
    ids = _Ids()
    for first in range(0, cases, CHUNK):
        rows: dict[type, list[dict[str, Any]]] = {
            Customer: [],
            Referral: [],
            Voucher: [],
            Deadline: [],
            Escalation: [],
        }
        for n in range(first, min(cases, first + CHUNK)):
            _case(rows, n + 1, registry, services, by_service, ids, rnd)
        for model, values in rows.items():
            connection.execute(insert(model), values)


class _Ids:
    def __init__(self) -> None:
        self.deadline = 0
        self.escalation = 0


def _case(
    rows: dict[type, list[dict[str, Any]]],
    n: int,
    registry: Registry,
    services: list[str],
    by_service: dict[str, list[int]],
    ids: _Ids,
    rnd: random.Random,
) -> None:
    service_type = rnd.choice(services)
    process = registry.service(service_type).process
    open_states = [s for s, d in process.states.items() if not d.final]
    final = next(s for s, d in process.states.items() if d.final)
    started = TODAY - timedelta(days=rnd.randint(0, 730))
    closed = started < TODAY - timedelta(days=60) and rnd.random() < 0.6
    state = final if closed else rnd.choice(open_states)
    site = rnd.choice(SITES)
    provider_id = rnd.choice(by_service[service_type])
    stamp = _utc(started)
    rows[Customer].append(
        {"id": n, "customer_number": f"K{n:07d}", "site": site, "age_group": "25-49"}
    )
    rows[Referral].append(
        {
            "id": n,
            "reference": f"BM-{n:07d}",
            "customer_id": n,
            "service_type": service_type,
            "provider_id": provider_id,
            "site": site,
            "caseworker_email": "ifk@jobcenter.example",
            "state": state,
            "state_since": started + timedelta(days=rnd.randint(0, 30)),
            "outcome": "completed" if closed else None,
            "started_on": started,
            "closed_on": started + timedelta(days=rnd.randint(30, 60)) if closed else None,
            "created_at": stamp,
            "updated_at": stamp,
        }
    )
    rows[Voucher].append(
        {
            "id": n,
            "number": f"GS-BM-{n:07d}",
            "referral_id": n,
            "provider_id": provider_id,
            "issued_on": started,
            "status": "redeemed" if closed or rnd.random() < 0.5 else "issued",
        }
    )
    for kind, title, days in (
        ("first_appointment", "Erstgespräch", 14),
        ("first_feedback", "1. Rückmeldung", 14),
        ("interim_report", "Zwischenmeldung", 42),
    ):
        due = started + timedelta(days=days)
        done = closed or rnd.random() < 0.85
        ids.deadline += 1
        rows[Deadline].append(
            {
                "id": ids.deadline,
                "referral_id": n,
                "kind": kind,
                "title": title,
                "period": f"P{days}D",
                "started_on": started,
                "due_on": due,
                "state": "met" if done else "open",
                "completed_on": due - timedelta(days=1) if done else None,
            }
        )
        if due + timedelta(days=8) < TODAY and (not done or rnd.random() < 0.1):
            ids.escalation += 1
            handled = rnd.random()
            rows[Escalation].append(
                {
                    "id": ids.escalation,
                    "referral_id": n,
                    "deadline_id": ids.deadline,
                    "reason": f"{title} seit 8 Tagen überfällig (fällig am {due:%d.%m.%Y})",
                    "created_at": _utc(due + timedelta(days=8)),
                    "state": "resolved"
                    if done or handled < 0.6
                    else ("acknowledged" if handled < 0.75 else "open"),
                    "assigned_to": "Frau Beispiel" if handled > 0.9 else None,
                }
            )


def _utc(day: date) -> datetime:
    return datetime.combine(day, datetime.min.time(), tzinfo=UTC) + timedelta(hours=8)


def report_database(url: str, path: Path) -> None:
    with engine(url).connect() as connection:
        counts = {
            model.__name__: connection.execute(select(func.count()).select_from(model)).scalar_one()
            for model in (Referral, Deadline, Escalation, Voucher, Customer, Provider)
        }
    files = (Path(f"{path}{suffix}") for suffix in ("", "-wal"))
    size = sum(f.stat().st_size for f in files if f.exists())
    print(f"Datenbank {path}: {size / 1024 / 1024:.1f} MiB")
    rows = ", ".join(f"{name} {count:,}".replace(",", ".") for name, count in counts.items())
    print(f"Zeilen: {rows}")


if __name__ == "__main__":
    main()
