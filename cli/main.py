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

from cli.process import app as process_app

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
app.add_typer(process_app, name="process")
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
    generate_password: Annotated[
        bool,
        typer.Option("--generate-password", help="Passwort erzeugen und einmal anzeigen"),
    ] = False,
) -> None:
    """Benutzerkonto anlegen (ein eingegebenes Passwort wird nie angezeigt oder
    protokolliert). Geprüft wie in der Verwaltung (`tasks.administration`)."""
    from cli.admin import add_user

    add_user(username, role, site, provider, email, password_stdin, generate_password)


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
    """Prefect-Server, Worker und API auf 127.0.0.1 starten (bis Strg+C); zum Entwickeln:
    SQLite, der Code des Arbeitsverzeichnisses. Ein beendeter Dienst wird allein neu
    gestartet (derselbe Supervisor wie `kel up`)."""
    from cli.up import UpConfig, supervise
    from models.settings import Settings

    settings = Settings()
    home = Path(".prefect-serve").resolve()
    config = UpConfig(
        data_dir=settings.data_dir,
        run_dir=home / "run",
        database_url=settings.database_url,
        prefect_home=home,
        api_port=api_port,
        prefect_port=prefect_port,
        workers=1,
        api_processes=1,
        secret_file=None if os.environ.get("KEL_JWT_SECRET") else Path(".kel-secret").resolve(),
    )

    def ready() -> None:
        console.print(
            f"API-Dokumentation: {config.api_url}/docs\n"
            f"Prefect-UI:        http://127.0.0.1:{prefect_port}\n"
            f"Datenbank:         {settings.database_url}\n"
            f"Protokolle:        {config.run_dir / 'logs'}/*.log\n"
            "Konto anlegen:     .venv/bin/kel user add NAME --role admin\n"
            "Beenden mit Strg+C."
        )

    console.print("Starte Prefect-Server, Deployments, Worker und API …")
    code = supervise(config, on_ready=ready)
    if code:
        from cli.supervise import RunDir

        message = RunDir(config.run_dir).read_state().get("message", "")
        console.print(f"[red]Start fehlgeschlagen:[/red] {message}")
    raise typer.Exit(code)


def _run_dir(run_dir: Path | None) -> Path:
    from models.settings import Settings

    return (run_dir or Settings().data_dir / "run").resolve()


RunDirOption = Annotated[
    Path | None,
    typer.Option(
        help="Verzeichnis für PID-Dateien, Zustand und Protokolle (Standard: $KEL_DATA_DIR/run)"
    ),
]


@app.command()
def up(
    run_dir: RunDirOption = None,
    database_url: Annotated[
        str | None, typer.Option(help="kel-flow-Datenbank (Standard: KEL_DATABASE_URL)")
    ] = None,
    prefect_database_url: Annotated[
        str | None,
        typer.Option(help="Datenbank des Prefect-Servers (PREFECT_API_DATABASE_CONNECTION_URL)"),
    ] = None,
    api_port: Annotated[int, typer.Option(help="Port der API")] = 8000,
    prefect_port: Annotated[int, typer.Option(help="Port des Prefect-Servers")] = 4200,
    workers: Annotated[int, typer.Option(min=1, help="Prefect-Worker")] = 2,
    api_processes: Annotated[int, typer.Option(min=1, help="Prozesse der API")] = 2,
    foreground: Annotated[
        bool, typer.Option(help="Im Vordergrund überwachen (z. B. als systemd-Dienst)")
    ] = False,
) -> None:
    """Betrieb auf diesem Rechner starten: PostgreSQL-Datenbanken, Prefect-Server,
    Deployments, Worker und API, überwacht und einzeln neu gestartet (make up)."""
    from cli.up import (
        DEFAULT_DATABASE_URL,
        DEFAULT_PREFECT_DATABASE_URL,
        UpConfig,
        UpError,
        check_postgres_url,
    )
    from cli.up import up as start
    from models.settings import Settings

    data_dir = Settings().data_dir
    try:
        config = UpConfig(
            data_dir=data_dir,
            run_dir=_run_dir(run_dir),
            database_url=check_postgres_url(
                database_url or os.environ.get("KEL_DATABASE_URL") or DEFAULT_DATABASE_URL,
                "KEL_DATABASE_URL",
                "psycopg",
            ),
            prefect_database_url=check_postgres_url(
                prefect_database_url
                or os.environ.get("PREFECT_API_DATABASE_CONNECTION_URL")
                or DEFAULT_PREFECT_DATABASE_URL,
                "PREFECT_API_DATABASE_CONNECTION_URL",
                "asyncpg",
            ),
            api_port=api_port,
            prefect_port=prefect_port,
            workers=workers,
            api_processes=api_processes,
            secret_file=None if os.environ.get("KEL_JWT_SECRET") else data_dir / "kel-secret",
        )
        console.print("Starte kel-flow (Datenbanken, Prefect-Server, Worker, API) …")
        console.print(start(config, foreground=foreground))
    except UpError as exc:
        console.print(f"[red]{exc}[/red]")
        raise typer.Exit(1) from None
    _print_status(config.run_dir)


@app.command()
def down(run_dir: RunDirOption = None) -> None:
    """Alles beenden, was `kel up` gestartet hat (laut PID-Dateien; SIGTERM, nach einer
    Frist SIGKILL)."""
    from cli.supervise import RunDir, stop

    stopped = stop(RunDir(_run_dir(run_dir)))
    if not stopped.results:
        console.print("Nichts gestartet (keine PID-Dateien).")
    for name, result in stopped.results.items():
        console.print(f"{name}: {result}")


@app.command()
def status(run_dir: RunDirOption = None) -> None:
    """Was läuft (PID, Port, Neustarts) und die letzte Fristenprüfung."""
    _print_status(_run_dir(run_dir))


def _print_status(path: Path) -> None:
    from cli.supervise import RunDir, service_status
    from cli.up import UpConfig, last_sweep_lines

    run_dir = RunDir(path)
    state = run_dir.read_state()
    supervisor = run_dir.supervisor()
    table = Table(title=f"kel-flow: {state.get('status', 'nicht gestartet')}")
    for column in ("Dienst", "PID", "läuft", "Port", "Neustarts"):
        table.add_column(column)
    sup_pid = str(supervisor[0]) if supervisor else "–"
    table.add_row("supervisor", sup_pid, "ja" if supervisor else "nein", "", "")
    for row in service_status(run_dir):
        table.add_row(
            row.name,
            str(row.pid or "–"),
            "ja" if row.alive else "nein",
            str(row.port or ""),
            str(row.restarts),
        )
    console.print(table)
    if state.get("message"):
        console.print(f"Meldung: {state['message']}")
    for key, value in state.get("info", {}).items():
        console.print(f"{key}: {value}", soft_wrap=True)
    config_file = path / "config.json"
    if config_file.exists():
        config = UpConfig.from_json(config_file.read_text())
        for line in last_sweep_lines(config.database_url, config.prefect_api):
            console.print(line)


@app.command()
def release() -> None:
    """Den Code als festes Release nach $KEL_DATA_DIR/releases/<Version>/ kopieren."""
    from cli.release import build_release
    from models.settings import Settings

    typer.echo(build_release(Settings().data_dir / "releases"))  # a path, never wrapped


@app.command()
def worker(
    pool: Annotated[str, typer.Option(help="Work pool (Typ process)")] = "kel-prozesse",
    name: Annotated[str | None, typer.Option(help="Name des Workers")] = None,
    grace: Annotated[float, typer.Option(help="Sekunden für laufende Läufe nach SIGTERM")] = 20,
) -> None:
    """Prefect-Worker, der bei SIGTERM keine Läufe mehr annimmt und sich beendet."""
    from cli.worker import main as worker_main

    args = ["--pool", pool, "--grace", str(grace)] + (["--name", name] if name else [])
    raise typer.Exit(worker_main(args))


@app.command("task-worker")
def task_worker(
    limit: Annotated[int, typer.Option(help="Höchstens so viele Läufe zugleich")] = 10,
    grace: Annotated[float, typer.Option(help="Sekunden für laufende Läufe nach SIGTERM")] = 20,
) -> None:
    """Task-Worker der Folgen eines Zustandswechsels (E-Mails): ein dauerhafter Prozess."""
    from cli.task_worker import main as task_worker_main

    raise typer.Exit(task_worker_main(["--limit", str(limit), "--grace", str(grace)]))


@app.command("check-config")
def check_config(
    process_dir: Annotated[Path | None, typer.Option(help="Verzeichnis der Prozess-YAML")] = None,
    cases: Annotated[
        bool, typer.Option("--cases/--no-cases", help="Laufende Fälle älterer Versionen zeigen")
    ] = True,
    database_url: Annotated[
        str | None, typer.Option(help="Datenbank der laufenden Fälle; ohne: KEL_DATABASE_URL")
    ] = None,
) -> None:
    """Prozessdefinitionen prüfen (Datei und Zeile jedes Fehlers) und zeigen, was eine
    Änderung für laufende Fälle hieße: sie behalten die Version, mit der sie begannen."""
    from cli.process import report_running_cases
    from models.process import ProcessDefinitionError, load_registry

    try:
        registry = load_registry(process_dir)
    except ProcessDefinitionError as exc:
        console.print(f"[red]{exc}[/red]")
        raise typer.Exit(1) from None
    console.print(
        f"Prozessdefinitionen gültig ({registry.kommune}): " + ", ".join(sorted(registry.services))
    )
    if cases:
        report_running_cases(registry, database_url)


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
        ("davon am Ende unerledigt (Eingang)", result.open_escalations),
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
        "  Schlagwort (Tag) fall-<Aktenzeichen>, z. B. fall-Z-000001; die Fallseite im\n"
        "  Dashboard verlinkt dorthin (Koordination und Administration)."
    )


def _fmt(value: float | None) -> str:
    return "–" if value is None else f"{value:.0f}"


from cli import admin as _admin  # noqa: E402  (registers kel provider, kel site, kel user …)

_admin.register(app, user_app)
