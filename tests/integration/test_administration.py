"""Administration of Träger, Standorte and accounts (tasks.administration) and its
``kel provider|site|user`` commands, on SQLite and on PostgreSQL.

Every bad value is refused with its German message and nothing is written (no row, no
audit entry); an import is all or nothing and names the line of each bad value; the audit
trail names changed fields, never their values; deactivating an account ends its sessions;
an inactive Träger gets no new referral.
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import date
from pathlib import Path
from typing import Any

import pytest
from sqlmodel import SQLModel, col, select
from typer.testing import CliRunner, Result

from api.security import authenticate, start_session, verify_password
from cli.main import app as kel_cli
from models.commands import ReferralEvent
from models.db import session
from models.process import load_registry
from models.settings import Settings
from models.tables import AuditEvent, Provider, Referral, Site, User, UserSession
from tasks import administration as admin
from tasks.commands import CommandRejected
from tasks.repository import Actor
from tests.factories import PROVIDER, at, start_referral, world

DOCS = Path(__file__).resolve().parents[2] / "docs"
NOW = at(date(2026, 3, 2), 10)
ADMIN = Actor("admin", "admin")
STRONG = "Tonne Lampe Wiesel Kompass"
JWT = "9b1e4c7a2d5f8e0b3a6c9d2e5f8a1b4c7d0e3f6a9b2c5d8e1f4a7b0c3d6e9f2a"


@contextmanager
def changes(url: str) -> Iterator[admin.Context]:
    """An administration context as the admin, committed when the block succeeds."""
    with session(url) as s:
        yield admin.Context(s, load_registry(), ADMIN, NOW)


def rows(url: str, model: type[SQLModel]) -> list[Any]:
    with session(url) as s:
        return list(s.exec(select(model).order_by(col(model.id))))  # type: ignore[attr-defined]


def audit_actions(url: str) -> list[str]:
    return [a.action for a in rows(url, AuditEvent)]


@pytest.fixture
def url(db_url: str) -> str:
    """A database with the Standort Aachen, the Träger SB-CARITAS and an admin account."""
    with changes(db_url) as ctx:
        admin.add_site(ctx, admin.SiteInput("Aachen", "Geschäftsstelle Aachen", "NW"))
        admin.add_provider(
            ctx,
            admin.ProviderInput(
                "SB-CARITAS", "Caritas", "caritas@traeger.example", ["schulden"], ["Aachen"], 10
            ),
        )
        admin.add_user(ctx, admin.UserInput("admin", "admin"), STRONG)
    return db_url


def kel(url: str, *args: str, stdin: str | None = None) -> Result:
    """Run ``kel ARGS`` on `url`; the output with its line breaks folded (rich wraps)."""
    result = CliRunner().invoke(
        kel_cli, list(args), input=stdin, env={"KEL_DATABASE_URL": url, "COLUMNS": "200"}
    )
    return result


def said(result: Result) -> str:
    return " ".join(result.output.split())


# --- each bad value, refused with its German message, nothing written -------------------

PROVIDER_OK = ["--name", "Diakonie", "--email", "sb@diakonie.example", "--service", "schulden"]
BAD_PROVIDERS = {
    "duplicate code": (
        ["SB-CARITAS", *PROVIDER_OK],
        "code",
        "Es gibt bereits einen Träger mit dem Kürzel „SB-CARITAS“.",
    ),
    "invalid e-mail": (
        ["SB-DIAKONIE", *PROVIDER_OK, "--email", "sb(at)diakonie.example"],
        "email",
        "„sb(at)diakonie.example“ ist keine gültige E-Mail-Adresse.",
    ),
    "unknown service": (
        ["SB-DIAKONIE", *PROVIDER_OK, "--service", "schuldnerberatung"],
        "services",
        "Unbekannte Leistungsart „schuldnerberatung“; bekannt sind: kinderbetreuung, "
        "pflege, psychosozial, schulden, sucht.",
    ),
    "unknown site": (
        ["SB-DIAKONIE", *PROVIDER_OK, "--site", "Bonn"],
        "sites",
        "Unbekannter Standort „Bonn“: bitte zuerst den Standort anlegen.",
    ),
    "negative capacity": (
        ["SB-DIAKONIE", *PROVIDER_OK, "--capacity", "-1"],
        "capacity",
        "Die Kapazität muss eine ganze Zahl von 0 bis 100000 sein (nicht „-1“).",
    ),
    "capacity in words": (
        ["SB-DIAKONIE", *PROVIDER_OK, "--capacity", "zwölf"],
        "capacity",
        "Die Kapazität muss eine ganze Zahl von 0 bis 100000 sein (nicht „zwölf“).",
    ),
    "fractional capacity": (
        ["SB-DIAKONIE", *PROVIDER_OK, "--capacity", "2,5"],
        "capacity",
        "Die Kapazität muss eine ganze Zahl von 0 bis 100000 sein (nicht „2,5“).",
    ),
    "no name": (["SB-DIAKONIE", *PROVIDER_OK, "--name", " "], "name", "Der Name fehlt."),
    "bad code": (
        ["SB/DIAKONIE", *PROVIDER_OK],
        "code",
        "Das Kürzel „SB/DIAKONIE“ ist ungültig: erlaubt sind Buchstaben, Ziffern, "
        "Leerzeichen, Punkt, Binde- und Unterstrich.",
    ),
}


def _provider_input(args: list[str]) -> admin.ProviderInput:
    """The `ProviderInput` the CLI builds from `args` (the last of a single option wins)."""
    values: dict[str, Any] = {"code": args[0], "services": []}
    names = {"--service": "services", "--site": "sites"}
    for option, value in zip(args[1::2], args[2::2], strict=True):
        name = option.removeprefix("--")
        if option in names:
            values.setdefault(names[option], []).append(value)
        else:
            values[name] = value
    return admin.ProviderInput(**values)


@pytest.mark.parametrize("case", BAD_PROVIDERS.values(), ids=BAD_PROVIDERS.keys())
def test_the_domain_refuses_each_bad_provider_value_and_writes_nothing(
    url: str, case: tuple[list[str], str, str]
) -> None:
    args, field, message = case
    before = (rows(url, Provider), audit_actions(url))

    with pytest.raises(admin.InvalidInput) as refused, changes(url) as ctx:
        admin.add_provider(ctx, _provider_input(args))

    assert admin.Mistake(field, message) in refused.value.mistakes
    assert (rows(url, Provider), audit_actions(url)) == before


@pytest.mark.parametrize("case", BAD_PROVIDERS.values(), ids=BAD_PROVIDERS.keys())
def test_kel_provider_add_refuses_each_bad_value_in_german_with_exit_code_1(
    url: str, case: tuple[list[str], str, str]
) -> None:
    args, _, message = case
    before = (rows(url, Provider), audit_actions(url))

    result = kel(url, "provider", "add", *args)

    assert result.exit_code == 1, result.output
    assert "Abgelehnt, nichts wurde gespeichert:" in said(result)
    assert message in said(result)
    assert (rows(url, Provider), audit_actions(url)) == before


BAD_SITES = {
    "unknown Land": (["Bonn", "--name", "Bonn", "--land", "XY"], "Unbekanntes Bundesland „XY“"),
    "no Land": (["Bonn", "--name", "Bonn"], "Das Bundesland fehlt."),
    "duplicate code": (
        ["Aachen", "--name", "Aachen", "--land", "NW"],
        "Es gibt bereits einen Standort mit dem Kürzel „Aachen“.",
    ),
}


@pytest.mark.parametrize("case", BAD_SITES.values(), ids=BAD_SITES.keys())
def test_kel_site_add_refuses_bad_values(url: str, case: tuple[list[str], str]) -> None:
    args, message = case
    before = (rows(url, Site), audit_actions(url))

    result = kel(url, "site", "add", *args)

    assert result.exit_code == 1
    assert message in said(result)
    assert (rows(url, Site), audit_actions(url)) == before


BAD_USERS = {
    "caseworker without site": (
        ["ifk.neu", "--role", "caseworker"],
        "Integrationsfachkräfte brauchen einen Standort.",
    ),
    "caseworker at an unknown site": (
        ["ifk.neu", "--role", "caseworker", "--site", "Bonn"],
        "Unbekannter Standort „Bonn“",
    ),
    "provider account without provider": (
        ["caritas.neu", "--role", "provider"],
        "Träger-Konten brauchen einen Träger.",
    ),
    "provider account of an unknown provider": (
        ["caritas.neu", "--role", "provider", "--provider", "SB-NIEMAND"],
        "Unbekannter Träger „SB-NIEMAND“.",
    ),
    "coordinator with a provider": (
        ["koordination", "--role", "coordinator", "--provider", "SB-CARITAS"],
        "Zu einem Träger gehören nur Träger-Konten.",
    ),
    "unknown role": (["chef", "--role", "boss"], "Unbekannte Rolle „boss“"),
    "taken name": (["admin", "--role", "admin"], "Ein Benutzerkonto „admin“ gibt es bereits."),
    "invalid e-mail": (
        ["koordination", "--role", "coordinator", "--email", "koordination@"],
        "„koordination@“ ist keine gültige E-Mail-Adresse.",
    ),
}


@pytest.mark.parametrize("case", BAD_USERS.values(), ids=BAD_USERS.keys())
def test_kel_user_add_checks_role_site_and_provider_through_the_same_module(
    url: str, case: tuple[list[str], str]
) -> None:
    args, message = case
    before = (rows(url, User), audit_actions(url))

    result = kel(url, "user", "add", *args, "--password-stdin", stdin=STRONG + "\n")

    assert result.exit_code == 1
    assert message in said(result)
    assert (rows(url, User), audit_actions(url)) == before


def test_a_weak_password_is_refused_when_an_account_is_created(url: str) -> None:
    with pytest.raises(admin.InvalidInput) as refused, changes(url) as ctx:
        admin.add_user(ctx, admin.UserInput("koordination", "coordinator"), "Passwort1234")

    assert refused.value.by_field()["password"].startswith("Das Passwort ist zu leicht")
    assert [u.username for u in rows(url, User)] == ["admin"]


# --- what is written, and what the audit trail says ------------------------------------


def test_changes_are_audited_with_the_names_of_the_fields_never_their_values(url: str) -> None:
    with changes(url) as ctx:
        admin.update_provider(
            ctx, admin.ProviderInput("SB-CARITAS", email="neu@caritas.example", capacity="12")
        )
        admin.update_provider(ctx, admin.ProviderInput("SB-CARITAS", capacity=12))  # no change
        admin.set_provider_active(ctx, "SB-CARITAS", False)
        admin.update_site(ctx, admin.SiteInput("Aachen", jobcenter="Jobcenter Aachen"))
        admin.add_user(
            ctx, admin.UserInput("ifk", "caseworker", "Aachen", email="ifk@jc.example"), STRONG
        )
        admin.update_user(ctx, admin.UserInput("ifk", email="ifk.neu@jc.example"))

    entries = rows(url, AuditEvent)[3:]  # after the fixture's three
    assert [(e.actor, e.role, e.action, e.detail) for e in entries] == [
        ("admin", "admin", "provider_updated",
         {"provider": "SB-CARITAS", "fields": ["email", "monthly_capacity"]}),
        ("admin", "admin", "provider_updated",
         {"provider": "SB-CARITAS", "fields": ["active"], "active": False}),
        ("admin", "admin", "site_updated", {"site": "Aachen", "fields": ["jobcenter"]}),
        ("admin", "admin", "user_created", {"account": "ifk", "account_role": "caseworker"}),
        ("admin", "admin", "user_updated", {"account": "ifk", "fields": ["email"]}),
    ]  # fmt: skip
    trail = repr([e.detail for e in rows(url, AuditEvent)])
    assert "@" not in trail and STRONG not in trail
    [caritas] = rows(url, Provider)
    assert (caritas.email, caritas.monthly_capacity, caritas.active) == (
        "neu@caritas.example",
        12,
        False,
    )


def test_the_fixture_wrote_one_audit_entry_per_record(url: str) -> None:
    assert [(e.action, e.detail) for e in rows(url, AuditEvent)] == [
        ("site_created", {"site": "Aachen", "fields": ["code", "land", "name"]}),
        (
            "provider_created",
            {
                "provider": "SB-CARITAS",
                "fields": ["code", "email", "monthly_capacity", "name", "service_types", "sites"],
            },
        ),
        ("user_created", {"account": "admin", "account_role": "admin"}),
    ]


def test_a_role_change_clears_the_site_the_new_role_has_no_use_for(url: str) -> None:
    with changes(url) as ctx:
        admin.add_user(ctx, admin.UserInput("ifk", "caseworker", "Aachen"), STRONG)
    result = kel(url, "user", "update", "ifk", "--role", "coordinator")

    assert result.exit_code == 0, result.output
    [ifk] = [u for u in rows(url, User) if u.username == "ifk"]
    assert (ifk.role, ifk.site) == ("coordinator", None)
    assert rows(url, AuditEvent)[-1].detail == {"account": "ifk", "fields": ["role", "site"]}


def test_the_last_active_admin_can_be_neither_deactivated_nor_demoted(url: str) -> None:
    deactivated = kel(url, "user", "deactivate", "admin")
    demoted = kel(url, "user", "update", "admin", "--role", "coordinator")

    assert (deactivated.exit_code, demoted.exit_code) == (1, 1)
    assert "Das letzte aktive Administrationskonto muss bleiben." in said(deactivated)
    assert "Das letzte aktive Administrationskonto muss bleiben." in said(demoted)
    [account] = rows(url, User)
    assert (account.role, account.active) == ("admin", True)


def test_nobody_deactivates_their_own_account(url: str) -> None:
    with changes(url) as ctx:
        admin.add_user(ctx, admin.UserInput("admin2", "admin"), STRONG)
    with pytest.raises(admin.InvalidInput, match="eigene Konto"), changes(url) as ctx:
        admin.set_user_active(ctx, "admin", False)


# --- sessions and passwords ---------------------------------------------------------------


def _sessions(url: str, username: str, count: int) -> list[str]:
    settings = Settings(database_url=url, jwt_secret=JWT)
    with session(url) as s:
        user = s.exec(select(User).where(User.username == username)).one()
        return [start_session(s, user, settings, NOW) for _ in range(count)]


def _signed_in(url: str, token: str) -> bool:
    with session(url) as s:
        return authenticate(s, token, Settings(database_url=url, jwt_secret=JWT), NOW) is not None


def test_kel_user_deactivate_ends_every_session_of_the_account(url: str) -> None:
    with changes(url) as ctx:
        admin.add_user(ctx, admin.UserInput("ifk", "caseworker", "Aachen"), STRONG)
    tokens = _sessions(url, "ifk", 2)
    assert all(_signed_in(url, t) for t in tokens)

    result = kel(url, "user", "deactivate", "ifk")

    assert result.exit_code == 0, result.output
    assert not any(_signed_in(url, t) for t in tokens)
    assert all(s.revoked_at is not None for s in rows(url, UserSession))
    assert rows(url, AuditEvent)[-1].detail == {"account": "ifk", "sessions_revoked": 2}
    assert rows(url, AuditEvent)[-1].action == "user_deactivated"


def test_kel_user_reset_password_generates_one_prints_it_once_and_ends_the_sessions(
    url: str,
) -> None:
    [token] = _sessions(url, "admin", 1)

    result = kel(url, "user", "reset-password", "admin")

    assert result.exit_code == 0, result.output
    [shown] = re.findall(r"^\s+(\S{4}-\S{4}-\S{4}-\S{4}-\S{4})$", result.output, re.M)
    [account] = rows(url, User)
    assert verify_password(shown, account.password_hash)
    assert not verify_password(STRONG, account.password_hash)
    assert not _signed_in(url, token)
    entry = rows(url, AuditEvent)[-1]
    assert (entry.action, entry.detail) == (
        "user_password_reset",
        {"account": "admin", "generated": True, "sessions_revoked": 1},
    )
    assert shown not in repr(entry.detail)


def test_a_weak_new_password_is_refused_and_the_old_one_stays(url: str) -> None:
    result = kel(
        url, "user", "reset-password", "admin", "--password-stdin", stdin="admin12345678\n"
    )

    assert result.exit_code == 1
    assert "Das Passwort ist zu leicht zu erraten" in said(result)
    [account] = rows(url, User)
    assert verify_password(STRONG, account.password_hash)
    assert audit_actions(url)[-1] == "user_created"


def test_an_unknown_account_is_named_in_german(url: str) -> None:
    result = kel(url, "user", "deactivate", "niemand")

    assert result.exit_code == 1
    assert "Ein Benutzerkonto „niemand“ gibt es nicht." in said(result)


# --- imports: all or nothing, with line numbers ------------------------------------------

BAD_YAML = """\
- code: SB-DIAKONIE
  name: Diakonie
  email: sb@diakonie.example
  services: [schulden]

- code: SB-AWO
  name: AWO
  email: awo-at-example
  services: [schulden]
  capacity: -3

- code: SUCHT-AWO
  name: AWO Sucht
  email: sucht@awo.example
  services: [sucht]
  sites: [Aachen, Düren]
  kapazitaet: 4

- code: SB-DIAKONIE
  name: Diakonie doppelt
  email: sb2@diakonie.example
  services: [schulden]
"""


def test_a_yaml_import_with_bad_rows_names_each_line_and_writes_nothing(
    url: str, tmp_path: Path
) -> None:
    file = tmp_path / "traeger.yaml"
    file.write_text(BAD_YAML, encoding="utf-8")
    before = (rows(url, Provider), audit_actions(url))

    result = kel(url, "provider", "import", str(file))

    assert result.exit_code == 1
    out = said(result)
    assert "Zeile 8: „awo-at-example“ ist keine gültige E-Mail-Adresse." in out
    assert "Zeile 10: Die Kapazität muss eine ganze Zahl von 0 bis 100000 sein" in out
    assert "Zeile 16: Unbekannter Standort „Düren“" in out
    assert "Zeile 17: Unbekanntes Feld „kapazitaet“; erlaubt sind: code, name, email," in out
    assert "Zeile 19: Das Kürzel „SB-DIAKONIE“ steht schon in Zeile 1." in out
    assert "Zeile 1:" not in out  # the first row is good
    assert (rows(url, Provider), audit_actions(url)) == before


def test_a_csv_import_creates_new_codes_and_updates_existing_ones(url: str, tmp_path: Path) -> None:
    file = tmp_path / "traeger.csv"
    file.write_text(
        "code;name;email;services;sites;capacity;active\n"
        "SB-CARITAS;Caritas;caritas@traeger.example;schulden;Aachen;30;ja\n"
        "\n"
        'SUCHT-CARITAS;Caritas Sucht;sucht@caritas.example;"sucht, psychosozial";;5;ja\n',
        encoding="utf-8",
    )

    result = kel(url, "provider", "import", str(file))

    assert result.exit_code == 0, result.output
    assert "Träger: 1 angelegt, 1 geändert, 0 unverändert." in said(result)
    found = {p.code: p for p in rows(url, Provider)}
    assert found["SB-CARITAS"].monthly_capacity == 30
    assert found["SUCHT-CARITAS"].service_types == ["sucht", "psychosozial"]
    assert found["SUCHT-CARITAS"].sites == []
    assert audit_actions(url)[-2:] == ["provider_updated", "provider_created"]


def test_a_bad_csv_row_is_named_by_its_line_and_nothing_is_written(
    url: str, tmp_path: Path
) -> None:
    file = tmp_path / "standorte.csv"
    file.write_text(
        "code,name,land\nDüren,Düren,NW\nHeinsberg,Heinsberg,NRW\nJülich,Jülich,NW,extra\n",
        encoding="utf-8",
    )

    result = kel(url, "site", "import", str(file))

    assert result.exit_code == 1
    assert "Zeile 3: Unbekanntes Bundesland „NRW“" in said(result)
    assert "zu lang" not in said(result)
    assert "Zeile 4: Mehr Werte als Spalten." in said(result)
    assert [s.code for s in rows(url, Site)] == ["Aachen"]


def test_the_sample_files_of_the_readme_set_up_a_jobcenter_from_nothing(
    db_url: str,
) -> None:
    sites = kel(db_url, "site", "import", str(DOCS / "beispiel-standorte.csv"))
    providers = kel(db_url, "provider", "import", str(DOCS / "beispiel-traeger.yaml"))
    again = kel(db_url, "provider", "import", str(DOCS / "beispiel-traeger.yaml"))
    listing = kel(db_url, "provider", "list")

    assert sites.exit_code == 0, sites.output
    assert "Standorte: 3 angelegt" in said(sites)
    assert providers.exit_code == 0, providers.output
    assert "Träger: 3 angelegt, 0 geändert, 0 unverändert." in said(providers)
    assert "Träger: 0 angelegt, 0 geändert, 3 unverändert." in said(again)
    assert "SUCHT-ALEXIANER" in listing.output
    by_code = {p.code: p for p in rows(db_url, Provider)}
    assert by_code["SB-CARITAS"].address == "Beispielstraße 12\n52062 Aachen"
    assert by_code["SB-DIAKONIE"].sites == []
    assert {s.land for s in rows(db_url, Site)} == {"NW"}


# --- an inactive Träger gets no new referrals ---------------------------------------------


def test_an_inactive_provider_is_refused_when_a_referral_starts_but_keeps_its_cases(
    url: str,
) -> None:
    w = world(url)
    day = date(2026, 3, 2)
    w.execute("start_referral", "Z-1", day, start_referral(customer_number="K1"))
    result = kel(url, "provider", "deactivate", "SB-CARITAS")
    assert result.exit_code == 0, result.output

    with pytest.raises(CommandRejected, match="ist deaktiviert und nimmt keine neuen"):
        w.execute("start_referral", "Z-2", day, start_referral(customer_number="K2"))
    w.execute("event", "Z-1", day, ReferralEvent(event="appointment_booked", appointment_on=day),
              actor=PROVIDER)  # fmt: skip

    assert [(r.reference, r.state) for r in rows(url, Referral)] == [("Z-1", "appointment_booked")]


def test_the_readme_sequence_sets_up_sites_providers_and_accounts(db_url: str) -> None:
    steps = [
        ["user", "add", "admin", "--role", "admin", "--generate-password"],
        ["site", "add", "Aachen", "--name", "Geschäftsstelle Aachen-Mitte", "--land", "NW",
         "--jobcenter", "Jobcenter StädteRegion Aachen"],
        ["site", "import", str(DOCS / "beispiel-standorte.csv")],
        ["provider", "add", "SB-CARITAS", "--name", "Caritas Schuldnerberatung",
         "--email", "schuldnerberatung@caritas-beispiel.de", "--service", "schulden",
         "--site", "Aachen", "--site", "Eschweiler", "--capacity", "25",
         "--phone", "0241 123456-0", "--hint", "Terminvereinbarung telefonisch Mo–Do 9–12 Uhr"],
        ["provider", "import", str(DOCS / "beispiel-traeger.yaml")],
        ["user", "add", "koordination", "--role", "coordinator",
         "--email", "koordination@jobcenter.example", "--generate-password"],
        ["user", "add", "ifk.mueller", "--role", "caseworker", "--site", "Aachen",
         "--generate-password"],
        ["user", "add", "caritas", "--role", "provider", "--provider", "SB-CARITAS",
         "--generate-password"],
    ]  # fmt: skip

    for step in steps:
        result = kel(db_url, *step)
        assert result.exit_code == 0, (step, result.output)

    assert [s.code for s in rows(db_url, Site)] == ["Aachen", "Eschweiler", "Stolberg"]
    assert len(rows(db_url, Provider)) == 3
    accounts = {u.username: (u.role, u.site) for u in rows(db_url, User)}
    assert accounts == {
        "admin": ("admin", None),
        "koordination": ("coordinator", None),
        "ifk.mueller": ("caseworker", "Aachen"),
        "caritas": ("provider", None),
    }


def test_a_blank_capacity_counts_as_zero_and_address_lines_are_trimmed(url: str) -> None:
    with changes(url) as ctx:
        created = admin.add_provider(
            ctx,
            admin.ProviderInput(
                "SB-AWO", "AWO", "sb@awo.example", "schulden", capacity=" ",
                address="  Weg 1 \r\n 52062 Aachen ",
            ),
        )  # fmt: skip
        assert (created.monthly_capacity, created.address) == (0, "Weg 1\n52062 Aachen")
