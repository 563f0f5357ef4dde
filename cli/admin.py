"""``kel provider …``, ``kel site …`` and the account commands of ``kel user …``.

Thin: each command builds an input and calls `tasks.administration` (the same functions
as the Verwaltung pages), in one transaction that is committed only when everything was
accepted. A refusal prints every German message (with the option or the line of the
import file it is about) and exits with code 1; nothing is written then.
"""

from __future__ import annotations

import sys
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Annotated, TypeVar

import typer
from rich.console import Console
from rich.table import Table

from tasks.administration import (
    ROLE_TITLES,
    Context,
    Imported,
    InvalidInput,
    ProviderInput,
    SiteInput,
    UserInput,
)

T = TypeVar("T")
console = Console()
provider_app = typer.Typer(help="Träger (Leistungserbringer): anlegen, ändern, importieren.")
site_app = typer.Typer(help="Standorte des Jobcenters: anlegen, ändern, importieren.")

#: The option a field of `tasks.administration` is entered with.
OPTIONS = {
    "code": "KÜRZEL",
    "username": "NAME",
    "services": "--service",
    "sites": "--site",
    "file": "DATEI",
}


def register(app: typer.Typer, user_app: typer.Typer) -> None:
    """Add ``kel provider``, ``kel site`` and the account commands to the ``kel`` app."""
    app.add_typer(provider_app, name="provider")
    app.add_typer(site_app, name="site")
    user_app.command("update")(user_update)
    user_app.command("list")(user_list)
    user_app.command("deactivate")(user_deactivate)
    user_app.command("activate")(user_activate)
    user_app.command("reset-password")(user_reset_password)


@contextmanager
def _admin() -> Iterator[Context]:
    """A `Context` for the operating-system user on ``KEL_DATABASE_URL``, committed at
    the end unless an error leaves the block."""
    from cli.main import _cli_actor
    from models.clock import SystemClock
    from models.db import migrate, session
    from models.process import load_registry
    from models.settings import Settings

    settings = Settings()
    migrate(settings.database_url)
    registry = load_registry(settings.process_dir)
    with session(settings.database_url) as s:
        yield Context(s, registry, _cli_actor(), SystemClock().now(), settings.password_min_score)


def run(change: Callable[[Context], T]) -> T:
    """Run `change` in one transaction; on `InvalidInput` print why and exit 1."""
    try:
        with _admin() as ctx:
            return change(ctx)
    except InvalidInput as refused:
        console.print("[red]Abgelehnt, nichts wurde gespeichert:[/red]")
        for mistake in refused.mistakes:
            where = (
                f"Zeile {mistake.line}"
                if mistake.line is not None
                else OPTIONS.get(mistake.field, f"--{mistake.field}")
            )
            console.print(f"  {where}: {mistake.message}", highlight=False, markup=False)
        raise typer.Exit(1) from None


def _imported(result: Imported, noun: str) -> None:
    console.print(
        f"{noun}: {len(result.created)} angelegt, {len(result.updated)} geändert, "
        f"{len(result.unchanged)} unverändert."
    )


def _yes(value: bool) -> str:
    return "ja" if value else "nein"


# --- Träger -----------------------------------------------------------------------------

Code = Annotated[str, typer.Argument(help="Kürzel, z. B. SB-CARITAS", show_default=False)]
Name = Annotated[str | None, typer.Option(help="Name, wie er auf dem Gutschein steht")]
Email = Annotated[str | None, typer.Option(help="E-Mail-Adresse für Gutscheine und Fristen")]
Services = Annotated[
    list[str] | None,
    typer.Option("--service", help="Leistungsart, z. B. schulden (mehrfach möglich)"),
]
Sites = Annotated[
    list[str] | None,
    typer.Option("--site", help="Standort-Kürzel (mehrfach möglich; ohne: alle Standorte)"),
]
Capacity = Annotated[str | None, typer.Option(help="Neue Fälle je Monat (ganze Zahl ab 0)")]
Address = Annotated[str | None, typer.Option(help="Anschrift; Zeilen mit \\n trennen")]
Phone = Annotated[str | None, typer.Option(help="Telefonnummer")]
Hint = Annotated[str | None, typer.Option(help="So vereinbart man den ersten Termin")]


def _provider_input(
    code: str,
    name: str | None,
    email: str | None,
    service: list[str] | None,
    site: list[str] | None,
    capacity: str | None,
    address: str | None,
    phone: str | None,
    hint: str | None,
) -> ProviderInput:
    return ProviderInput(
        code=code,
        name=name,
        email=email,
        services=service,
        sites=site,
        capacity=capacity,
        address=address.replace("\\n", "\n") if address is not None else None,
        phone=phone,
        hint=hint,
    )


@provider_app.command("add")
def provider_add(
    code: Code,
    name: Name = None,
    email: Email = None,
    service: Services = None,
    site: Sites = None,
    capacity: Capacity = None,
    address: Address = None,
    phone: Phone = None,
    hint: Hint = None,
) -> None:
    """Einen Träger anlegen (Name, E-Mail und mindestens eine Leistungsart nötig)."""
    from tasks.administration import add_provider

    data = _provider_input(code, name, email, service, site, capacity, address, phone, hint)
    run(lambda ctx: add_provider(ctx, data))
    console.print(f"Träger {data.code.strip()} angelegt.", highlight=False)


@provider_app.command("update")
def provider_update(
    code: Code,
    name: Name = None,
    email: Email = None,
    service: Services = None,
    site: Sites = None,
    capacity: Capacity = None,
    address: Address = None,
    phone: Phone = None,
    hint: Hint = None,
) -> None:
    """Angaben eines Trägers ändern; was nicht angegeben ist, bleibt."""
    from tasks.administration import update_provider

    data = _provider_input(code, name, email, service, site, capacity, address, phone, hint)
    saved = run(lambda ctx: update_provider(ctx, data))
    done = "geändert" if saved.outcome == "updated" else "unverändert"
    console.print(f"Träger {saved.row.code} {done}.", highlight=False)


@provider_app.command("list")
def provider_list() -> None:
    """Alle Träger als Tabelle."""
    from tasks.administration import providers

    table = Table(title="Träger")
    table.add_column("Kürzel", no_wrap=True)
    for column in ("Name", "E-Mail", "Leistungsarten", "Standorte"):
        table.add_column(column)
    table.add_column("Kapazität/Monat", justify="right")
    table.add_column("aktiv")
    for p in run(lambda ctx: providers(ctx.session)):
        sites = ", ".join(p.sites) or "alle"
        table.add_row(
            p.code,
            p.name,
            p.email,
            ", ".join(p.service_types),
            sites,
            str(p.monthly_capacity),
            _yes(p.active),
        )
    console.print(table)


@provider_app.command("import")
def provider_import(
    file: Annotated[Path, typer.Argument(help="YAML- oder CSV-Datei", show_default=False)],
) -> None:
    """Träger aus einer Datei anlegen oder ändern (vorhandene Kürzel werden geändert).
    Alles oder nichts: ist eine Zeile fehlerhaft, wird nichts gespeichert."""
    from tasks.administration import import_providers, read_rows

    _imported(run(lambda ctx: import_providers(ctx, read_rows(file))), "Träger")


@provider_app.command("deactivate")
def provider_deactivate(code: Code) -> None:
    """Einen Träger deaktivieren: keine neuen Zuweisungen, laufende Fälle bleiben."""
    from tasks.administration import set_provider_active

    run(lambda ctx: set_provider_active(ctx, code, False))
    console.print(f"Träger {code} deaktiviert: er erhält keine neuen Zuweisungen.")


@provider_app.command("activate")
def provider_activate(code: Code) -> None:
    """Einen deaktivierten Träger wieder aktivieren."""
    from tasks.administration import set_provider_active

    run(lambda ctx: set_provider_active(ctx, code, True))
    console.print(f"Träger {code} ist aktiv.", highlight=False)


# --- Standorte --------------------------------------------------------------------------

SiteCode = Annotated[str, typer.Argument(help="Kürzel, z. B. Aachen", show_default=False)]
SiteName = Annotated[str | None, typer.Option(help="Name der Geschäftsstelle")]
Land = Annotated[
    str | None, typer.Option(help="Bundesland (ISO-Kürzel, z. B. NW) für die Feiertage")
]
Jobcenter = Annotated[str | None, typer.Option(help="Name des Jobcenters (Gutschein, Berichte)")]


@site_app.command("add")
def site_add(
    code: SiteCode,
    name: SiteName = None,
    land: Land = None,
    jobcenter: Jobcenter = None,
    address: Address = None,
) -> None:
    """Einen Standort anlegen (Name und Bundesland nötig)."""
    from tasks.administration import add_site

    data = SiteInput(code, name, land, jobcenter, _lines(address))
    run(lambda ctx: add_site(ctx, data))
    console.print(f"Standort {data.code.strip()} angelegt.", highlight=False)


@site_app.command("update")
def site_update(
    code: SiteCode,
    name: SiteName = None,
    land: Land = None,
    jobcenter: Jobcenter = None,
    address: Address = None,
) -> None:
    """Angaben eines Standorts ändern; was nicht angegeben ist, bleibt."""
    from tasks.administration import update_site

    saved = run(
        lambda ctx: update_site(ctx, SiteInput(code, name, land, jobcenter, _lines(address)))
    )
    done = "geändert" if saved.outcome == "updated" else "unverändert"
    console.print(f"Standort {saved.row.code} {done}.", highlight=False)


def _lines(text: str | None) -> str | None:
    return None if text is None else text.replace("\\n", "\n")


@site_app.command("list")
def site_list() -> None:
    """Alle Standorte als Tabelle."""
    from tasks.administration import sites

    table = Table(title="Standorte")
    table.add_column("Kürzel", no_wrap=True)
    for column in ("Name", "Bundesland", "Jobcenter", "aktiv"):
        table.add_column(column)
    for s in run(lambda ctx: sites(ctx.session)):
        table.add_row(s.code, s.name, s.land, s.jobcenter, _yes(s.active))
    console.print(table)


@site_app.command("import")
def site_import(
    file: Annotated[Path, typer.Argument(help="YAML- oder CSV-Datei", show_default=False)],
) -> None:
    """Standorte aus einer Datei anlegen oder ändern; alles oder nichts."""
    from tasks.administration import import_sites, read_rows

    _imported(run(lambda ctx: import_sites(ctx, read_rows(file))), "Standorte")


@site_app.command("deactivate")
def site_deactivate(code: SiteCode) -> None:
    """Einen Standort als nicht mehr aktiv kennzeichnen."""
    from tasks.administration import set_site_active

    run(lambda ctx: set_site_active(ctx, code, False))
    console.print(f"Standort {code} deaktiviert.", highlight=False)


# --- Benutzerkonten ---------------------------------------------------------------------

Username = Annotated[str, typer.Argument(help="Anmeldename", show_default=False)]
PasswordStdin = Annotated[
    bool, typer.Option("--password-stdin", help="Passwort von der Standardeingabe lesen")
]


def _show_password(username: str, password: str) -> None:
    console.print(
        f"Neues Passwort für {username} (wird nur jetzt angezeigt, bitte sicher übergeben):",
        highlight=False,
    )
    console.print(f"  {password}", highlight=False, markup=False)


def add_user(
    username: str,
    role: str,
    site: str | None,
    provider: str | None,
    email: str | None,
    password_stdin: bool,
    generate: bool,
) -> None:
    """``kel user add``: the password from stdin, generated, or typed twice at a prompt."""
    from tasks.administration import add_user as create

    if generate:
        password = None
    elif password_stdin:
        password = sys.stdin.readline().rstrip("\n")
    else:
        password = typer.prompt("Passwort", hide_input=True, confirmation_prompt=True)
    data = UserInput(username, role, site, provider, email)
    user, generated = run(lambda ctx: create(ctx, data, password))
    console.print(f"Benutzer {user.username} ({ROLE_TITLES[user.role]}) angelegt.", highlight=False)
    if generated:
        _show_password(user.username, generated)


def user_update(
    username: Username,
    role: Annotated[
        str | None, typer.Option(help="caseworker, provider, coordinator, admin")
    ] = None,
    site: Annotated[str | None, typer.Option(help="Standort (für IFK)")] = None,
    provider: Annotated[str | None, typer.Option(help="Träger-Kürzel (für Träger)")] = None,
    email: Annotated[str | None, typer.Option(help="E-Mail-Adresse (leer: keine)")] = None,
) -> None:
    """Rolle, Standort, Träger oder E-Mail eines Kontos ändern."""
    from tasks.administration import update_user

    saved = run(lambda ctx: update_user(ctx, UserInput(username, role, site, provider, email)))
    done = "geändert" if saved.outcome == "updated" else "unverändert"
    console.print(f"Benutzer {saved.row.username} {done}.", highlight=False)


def user_list() -> None:
    """Alle Benutzerkonten (ohne Passwörter)."""
    from tasks.administration import providers, users

    def load(ctx: Context) -> list[tuple[str, ...]]:
        codes = {p.id: p.code for p in providers(ctx.session)}
        return [
            (
                u.username,
                ROLE_TITLES.get(u.role, u.role),
                u.site or "",
                codes.get(u.provider_id, "") if u.provider_id else "",
                _yes(u.active),
            )
            for u in users(ctx.session)
        ]

    table = Table(title="Benutzerkonten")
    table.add_column("Name", no_wrap=True)
    for column in ("Rolle", "Standort", "Träger", "aktiv"):
        table.add_column(column)
    for row in run(load):
        table.add_row(*row)
    console.print(table)


def user_deactivate(username: Username) -> None:
    """Ein Konto deaktivieren: Anmeldung nicht mehr möglich, offene Sitzungen enden sofort."""
    from tasks.administration import set_user_active

    run(lambda ctx: set_user_active(ctx, username, False))
    console.print(
        f"Benutzer {username} deaktiviert; seine Sitzungen sind beendet.", highlight=False
    )


def user_activate(username: Username) -> None:
    """Ein deaktiviertes Konto wieder aktivieren."""
    from tasks.administration import set_user_active

    run(lambda ctx: set_user_active(ctx, username, True))
    console.print(f"Benutzer {username} ist wieder aktiv.", highlight=False)


def user_reset_password(username: Username, password_stdin: PasswordStdin = False) -> None:
    """Passwort neu setzen: von der Standardeingabe (--password-stdin) oder erzeugt und
    einmal angezeigt. Die offenen Sitzungen des Kontos enden."""
    from tasks.administration import reset_password

    password = sys.stdin.readline().rstrip("\n") if password_stdin else None
    generated = run(lambda ctx: reset_password(ctx, username, password))
    console.print(f"Passwort von {username} neu gesetzt; Sitzungen beendet.", highlight=False)
    if generated:
        _show_password(username, generated)
