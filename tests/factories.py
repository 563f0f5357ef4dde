"""Test data in one place: providers, commands, and a tiny world to run them in."""

from __future__ import annotations

from collections.abc import Callable
from contextlib import AbstractContextManager
from dataclasses import dataclass
from datetime import date, datetime, timedelta
from functools import partial
from typing import Any

from sqlmodel import Session

from models.clock import start_of_day
from models.commands import ReferralEvent, StartReferral
from models.db import session, write_session
from models.process import Registry, load_registry
from models.settings import Settings
from models.tables import Command, Provider
from tasks.commands import Applied, apply_commands, execute, pending_commands, record_command
from tasks.repository import Actor

CASEWORKER = Actor("ifk.mueller", "caseworker")
PROVIDER = Actor("traeger.caritas", "provider")


def provider(
    code: str = "SB-CARITAS", service_types: tuple[str, ...] = ("schulden",), **kw: Any
) -> Provider:
    return Provider(
        code=code,
        name=kw.pop("name", f"Träger {code}"),
        email=kw.pop("email", f"{code.lower()}@traeger.example"),
        service_types=list(service_types),
        sites=kw.pop("sites", []),
        **kw,
    )


def start_referral(
    service_type: str = "schulden", provider_code: str = "SB-CARITAS", **kw: Any
) -> StartReferral:
    values: dict[str, Any] = {
        "customer_number": "K000001",
        "site": "Aachen",
        "age_group": "25-49",
        "service_type": service_type,
        "provider_code": provider_code,
        "caseworker_email": "ifk.aachen@jobcenter.example",
    }
    if service_type in ("sucht", "psychosozial"):
        values["consent"] = {"form": "written", "granted_on": "2026-01-01"}
    values.update(kw)
    return StartReferral.model_validate(values)


def at(day: date, hour: int = 9) -> datetime:
    """`hour` o'clock Europe/Berlin on `day`, as an aware datetime."""
    return start_of_day(day) + timedelta(hours=hour)


@dataclass
class World:
    """A migrated database (SQLite or PostgreSQL) with the shipped process definitions."""

    settings: Settings
    registry: Registry

    @property
    def url(self) -> str:
        return self.settings.database_url

    @property
    def session(self) -> Callable[[], AbstractContextManager[Session]]:
        return partial(session, self.url)

    def add(self, *rows: Any) -> None:
        with self.session() as s:
            for row in rows:
                s.add(row)

    def record(
        self,
        kind: str,
        reference: str,
        on: date,
        payload: Any,
        actor: Actor = CASEWORKER,
        key: str | None = None,
    ) -> Command:
        with self.session() as s:
            return record_command(
                s, kind, reference, on, payload, now=at(on), actor=actor, idempotency_key=key
            )

    def execute(
        self,
        kind: str,
        reference: str,
        on: date,
        payload: Any,
        actor: Actor = CASEWORKER,
        now: datetime | None = None,
    ) -> Command:
        """Decide and save one command now, on the API's path (`tasks.commands.execute`);
        raises what the process refuses, and then nothing is written."""
        with write_session(self.url) as s:
            command, _ = execute(
                s,
                kind,
                reference,
                on,
                payload,
                now=now or at(on, 10),
                actor=actor,
                registry=self.registry,
                settings=self.settings,
            )
            return command

    def apply(self, now: datetime) -> Applied:
        with self.session() as s:
            ids = pending_commands(s)
        return apply_commands(self.session, ids, self.registry, self.settings, now)

    def start(self, reference: str, on: date, **kw: Any) -> Applied:
        self.record("start_referral", reference, on, start_referral(**kw))
        return self.apply(at(on))

    def event(
        self, reference: str, on: date, event: str, actor: Actor = PROVIDER, **kw: Any
    ) -> Applied:
        self.record("event", reference, on, ReferralEvent(event=event, **kw), actor=actor)
        return self.apply(at(on, 17))


def world(url: str) -> World:
    return World(
        Settings(database_url=url, coordinator_email="koordination@jobcenter.example"),
        load_registry(),
    )
