"""The ``kel`` command line (Typer)."""

from __future__ import annotations

import os
from pathlib import Path
from typing import TYPE_CHECKING, Annotated

import typer
from rich.console import Console
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn
from rich.table import Table

if TYPE_CHECKING:
    from tasks.repository import Actor

app = typer.Typer(
    help="kel-flow: Zuweisungen zu kommunalen Eingliederungsleistungen (§ 16a SGB II).",
    no_args_is_help=True,
)
db_app = typer.Typer(help="Datenbank (Alembic-Migrationen).")
app.add_typer(db_app, name="db")
user_app = typer.Typer(help="Benutzerkonten der API und des Dashboards.")
app.add_typer(user_app, name="user")
audit_app = typer.Typer(help="Audit-Protokoll (Hash-Kette).")
app.add_typer(audit_app, name="audit")
console = Console()


@db_app.command("upgrade")
def db_upgrade() -> None:
    """Datenbank auf den neuesten Stand bringen (KEL_DATABASE_URL)."""
    from models.db import migrate
    from models.settings import Settings

    migrate(Settings().database_url)
    console.print("Datenbank ist auf dem neuesten Stand.")


@audit_app.command("verify")
def audit_verify(
    anchor: Annotated[
        str | None,
        typer.Option(
            "--anker",
            help="Früher notierter Kopf der Kette als NR:HASH; er muss noch darin stehen "
            "(erkennt eine gekürzte oder neu berechnete Kette).",
        ),
    ] = None,
) -> None:
    """Hash-Kette des Audit-Protokolls prüfen (KEL_DATABASE_URL); nennt den ersten
    gebrochenen Eintrag. Exit-Code 0: intakt, 1: gebrochen."""
    from models.db import session
    from models.settings import Settings
    from tasks.audit_trail import verify_chain

    pinned = None
    if anchor is not None:
        seq, _, digest = anchor.partition(":")
        if not seq.isdigit() or len(digest) != 64:
            raise typer.BadParameter("erwartet NR:HASH (64 Hex-Zeichen)", param_hint="--anker")
        pinned = (int(seq), digest.lower())
    with session(Settings().database_url) as s:
        report = verify_chain(s, anchor=pinned)
    count = f"{report.count:,}".replace(",", ".")
    if report.broken is None:
        console.print(f"[green]Audit-Kette intakt:[/green] {count} Einträge geprüft.")
        if report.head_seq is not None:
            console.print(
                f"Kopf der Kette (als Anker notieren): {report.head_seq}:{report.head_hash}"
            )
        return
    broken = report.broken
    where = f"Nr. {broken.seq}" + (f" (id {broken.id})" if broken.id is not None else "")
    table = Table(title=f"[red]Audit-Kette gebrochen bei Eintrag {where}[/red]", show_header=False)
    table.add_column("Grund")
    for reason in broken.reasons():
        table.add_row(reason)
    console.print(table)
    console.print(f"Davor intakt: {count} Einträge.")
    raise typer.Exit(1)


@user_app.command("add")
def user_add(
    username: Annotated[str, typer.Argument(help="Anmeldename")],
    role: Annotated[str, typer.Option(help="caseworker, provider, coordinator oder admin")],
    site: Annotated[str | None, typer.Option(help="Standort (für IFK)")] = None,
    provider: Annotated[str | None, typer.Option(help="Träger-Kürzel (für Träger)")] = None,
    email: Annotated[str | None, typer.Option(help="E-Mail-Adresse")] = None,
    password_stdin: Annotated[
        bool, typer.Option("--password-stdin", help="Passwort von der Standardeingabe lesen")
    ] = False,
) -> None:
    """Benutzerkonto anlegen (das Passwort wird nie angezeigt oder protokolliert)."""
    import sys

    from sqlmodel import select

    from api.security import hash_password
    from models.clock import SystemClock
    from models.db import migrate, session
    from models.passwords import password_problem
    from models.settings import Settings
    from models.tables import Provider, Role, User
    from tasks.repository import audit

    if role not in Role.__members__:
        raise typer.BadParameter(f"unbekannte Rolle {role!r}", param_hint="--role")
    if role == Role.caseworker and not site:
        raise typer.BadParameter("IFK brauchen einen Standort", param_hint="--site")
    if role == Role.provider and not provider:
        raise typer.BadParameter("Träger-Konten brauchen --provider", param_hint="--provider")
    if password_stdin:
        password = sys.stdin.readline().rstrip("\n")
    else:
        password = typer.prompt("Passwort", hide_input=True, confirmation_prompt=True)
    settings = Settings()
    weak = password_problem(
        password,
        min_score=settings.password_min_score,
        user_inputs=tuple(v for v in (username, email) if v),
    )
    if weak:
        raise typer.BadParameter(weak, param_hint="Passwort")
    migrate(settings.database_url)
    with session(settings.database_url) as s:
        if s.exec(select(User).where(User.username == username)).first():
            console.print(f"[red]Benutzer {username!r} gibt es bereits.[/red]")
            raise typer.Exit(1)
        provider_id = None
        if provider:
            found = s.exec(select(Provider).where(Provider.code == provider)).first()
            if found is None:
                console.print(f"[red]Unbekannter Träger {provider!r}.[/red]")
                raise typer.Exit(1)
            provider_id = found.id
        now = SystemClock().now()
        s.add(
            User(
                username=username,
                role=role,
                site=site,
                provider_id=provider_id,
                email=email,
                password_hash=hash_password(password),
                created_at=now,
            )
        )
        audit(s, now, _cli_actor(), "user_created", None, account=username, account_role=role)
    console.print(f"Benutzer {username!r} ({role}) angelegt.")


@user_app.command("revoke-sessions")
def user_revoke_sessions(username: Annotated[str, typer.Argument(help="Anmeldename")]) -> None:
    """Alle offenen Sitzungen eines Kontos widerrufen (Tokens und Dashboard-Anmeldungen
    gelten sofort nicht mehr)."""
    from sqlmodel import select

    from api.security import revoke_sessions
    from models.clock import SystemClock
    from models.db import migrate, session
    from models.settings import Settings
    from models.tables import User
    from tasks.repository import audit

    settings = Settings()
    migrate(settings.database_url)
    with session(settings.database_url) as s:
        if s.exec(select(User).where(User.username == username)).first() is None:
            console.print(f"[red]Benutzer {username!r} gibt es nicht.[/red]")
            raise typer.Exit(1)
        now = SystemClock().now()
        count = revoke_sessions(s, username, now)
        audit(s, now, _cli_actor(), "sessions_revoked", None, account=username, sessions=count)
    console.print(f"{count} Sitzung(en) von {username!r} widerrufen.")


def _cli_actor() -> Actor:
    """The audit actor of a ``kel`` command: the operating-system account that ran it."""
    import getpass

    from tasks.repository import Actor

    return Actor(f"cli:{getpass.getuser()}", "admin")


@app.command()
def serve(
    api_port: Annotated[int, typer.Option(help="Port der API")] = 8000,
    prefect_port: Annotated[int, typer.Option(help="Port des Prefect-Servers")] = 4200,
) -> None:
    """Prefect-Server, Worker und API auf 127.0.0.1 starten (bis Strg+C)."""
    import time

    from cli.serve import Stack
    from models.settings import Settings

    settings = Settings()
    stack = Stack(
        settings.database_url,
        Path(".prefect-serve").resolve(),
        prefect_port=prefect_port,
        api_port=api_port,
        log_dir=Path(".prefect-serve").resolve(),
        secret_file=Path(".kel-secret").resolve(),  # used when KEL_JWT_SECRET is not set
    )
    console.print("Starte Prefect-Server, Deployments, Worker und API …")
    with stack:
        console.print(
            f"API-Dokumentation: {stack.api_url}/docs\n"
            f"Prefect-UI:        http://127.0.0.1:{prefect_port}\n"
            f"Datenbank:         {settings.database_url}\n"
            f"Protokolle:        {stack.log_dir}/*.log\n"
            "Konto anlegen:     .venv/bin/kel user add NAME --role admin\n"
            "Beenden mit Strg+C."
        )
        try:
            while all(p.poll() is None for p in stack.processes):
                time.sleep(1)
            console.print("[red]Ein Dienst ist beendet; siehe Protokolle.[/red]")
        except KeyboardInterrupt:
            console.print("Beende …")


@app.command("check-config")
def check_config(
    process_dir: Annotated[Path | None, typer.Option(help="Verzeichnis der Prozess-YAML")] = None,
) -> None:
    """Prozessdefinitionen prüfen (Datei und Zeile jedes Fehlers)."""
    from models.process import ProcessDefinitionError, load_registry

    try:
        registry = load_registry(process_dir)
    except ProcessDefinitionError as exc:
        console.print(f"[red]{exc}[/red]")
        raise typer.Exit(1) from None
    console.print(
        f"Prozessdefinitionen gültig ({registry.kommune}): " + ", ".join(sorted(registry.services))
    )


@app.command()
def demo(
    months: Annotated[int, typer.Option(min=1, max=24, help="Simulierte Monate")] = 12,
    scale: Annotated[
        float, typer.Option(min=0.01, max=2.0, help="Anteil der Düsseldorfer Jahresmengen")
    ] = 0.25,
    seed: Annotated[
        int, typer.Option(help="Zufallsstartwert; gleicher Seed, gleiche Zahlen")
    ] = 2026,
    out: Annotated[Path, typer.Option(help="Ausgabeverzeichnis")] = Path("out"),
) -> None:
    """Ein simuliertes Jahr eines mittelgroßen Jobcenters durch die echten Flows."""
    os.environ.setdefault("PREFECT_SERVER_ANALYTICS_ENABLED", "false")
    os.environ.setdefault("PREFECT_SERVER_EPHEMERAL_STARTUP_TIMEOUT_SECONDS", "120")
    os.environ.setdefault("PREFECT_LOGGING_LEVEL", "WARNING")
    from demo.run import run_demo

    console.print(
        f"Simulation: {months} Monate, Skalierung {scale:g}, Seed {seed}. "
        "Der lokale Prefect-Server startet (ca. 20 s) …"
    )
    with Progress(
        TextColumn("{task.description}"),
        BarColumn(),
        MofNCompleteColumn(),
        TimeElapsedColumn(),
        console=console,
    ) as bar:
        task = bar.add_task("Prefect-Server startet", total=None)

        def progress(done: int, total: int, label: str) -> None:
            bar.update(task, completed=done, total=total, description=f"Simuliert: {label}")

        result = run_demo(out, months=months, scale=scale, seed=seed, progress=progress)
    _print_summary(result)


def _print_summary(result: object) -> None:
    from demo.run import DemoResult

    assert isinstance(result, DemoResult)
    total = result.rows[-1]
    table = Table(title="Kennzahlen (gesamt)")
    table.add_column("Kennzahl")
    table.add_column("Wert", justify="right")
    for label, value in [
        ("Zuweisungen", result.referrals),
        ("Gutscheine ausgegeben", total.vouchers_issued),
        ("davon eingelöst", total.vouchers_redeemed),
        ("davon Beratung noch nicht eingeleitet", total.vouchers_not_started),
        ("davon als ungültig zurückgegeben", total.vouchers_returned_invalid),
        ("Kunden in Beratung (Stichtag)", total.customers_in_counselling),
        ("Anteil U25", f"{total.share_u25 * 100:.1f} %".replace(".", ",")),
        ("Tage bis Erstgespräch (Median)", _fmt(total.first_appointment_days_median)),
        ("Tage bis Erstgespräch (90. Perzentil)", _fmt(total.first_appointment_days_p90)),
        ("Eskalationen", result.escalations),
        ("E-Mails zugestellt", result.mails),
        (
            "Befehle angewendet / abgelehnt",
            f"{result.totals.get('commands', 0)} / {result.totals.get('rejected', 0)}",
        ),
        ("Timer ausgelöst", result.totals.get("timers", 0)),
    ]:
        table.add_row(label, str(value))
    console.print(table)
    prefect_home = os.environ.get("PREFECT_HOME", "~/.prefect")
    console.print(
        f"\nLaufzeit: {result.wall_seconds:.0f} s\n"
        f"Bericht:   {result.report_html}\n"
        f"CSV:       {result.report_csv}\n"
        f"E-Mails:   {result.out_dir / 'mail'} ({result.mails} .eml-Dateien)\n"
        f"Datenbank: {result.database}\n\n"
        "Prefect-UI mit den Flow-Runs dieser Demo:\n"
        f"  PREFECT_HOME={prefect_home} .venv/bin/prefect server start   (oder: make prefect-ui)\n"
        "  dann http://127.0.0.1:4200/runs öffnen; die Läufe eines Falls findet man über das\n"
        "  Schlagwort (Tag) fall-<Fall-Nr.>, z. B. fall-1."
    )


def _fmt(value: float | None) -> str:
    return "–" if value is None else f"{value:.0f}"
