"""``kel process``: the process definitions as people read them (BPMN 2.0)."""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Annotated

import typer
from rich.console import Console

if TYPE_CHECKING:
    from models.process import Registry
    from tasks.process_versions import OlderVersion

app = typer.Typer(help="Prozessdefinitionen (BPMN-Export).")
console = Console()


@app.command("export-bpmn")
def export_bpmn(
    name: Annotated[
        str, typer.Argument(help="Leistungsart (z. B. schulden) oder Prozesstyp (kel_referral)")
    ],
    out: Annotated[
        Path | None, typer.Option("--out", "-o", help="Zieldatei; ohne: Standardausgabe")
    ] = None,
    process_dir: Annotated[Path | None, typer.Option(help="Verzeichnis der Prozess-YAML")] = None,
) -> None:
    """BPMN 2.0 XML (mit Diagramm) einer Prozessdefinition schreiben.

    Für einen Prozesstyp gelten die Fristen der ersten Leistungsart, die ihn nutzt
    (alphabetisch); für die Fristen einer bestimmten Leistungsart diese angeben.
    """
    from models.bpmn import layout, to_bpmn_xml
    from models.process import ProcessDefinitionError, load_registry

    try:
        registry = load_registry(process_dir)
    except ProcessDefinitionError as exc:
        console.print(f"[red]{exc}[/red]")
        raise typer.Exit(1) from None
    services = registry.services
    if name not in services:
        using = sorted(s for s, c in services.items() if c.process.name == name)
        if not using:
            known = ", ".join(sorted({*services, *registry.processes}))
            console.print(
                f"[red]Unbekannte Leistungsart oder Prozesstyp {name!r}; bekannt: {known}[/red]"
            )
            raise typer.Exit(2)
        name = using[0]
    xml = to_bpmn_xml(layout(services[name]))
    if out is None:
        typer.echo(xml, nl=False)
        return
    out.write_text(xml, encoding="utf-8")
    console.print(f"BPMN geschrieben: {out} (Leistungsart {name})")


@app.command("course")
def course(
    name: Annotated[
        str, typer.Argument(help="Leistungsart (z. B. schulden) oder Prozesstyp (kel_referral)")
    ],
    process_dir: Annotated[Path | None, typer.Option(help="Verzeichnis der Prozess-YAML")] = None,
) -> None:
    """Den Ablauf (``course``) eines Prozesses als nummerierte Liste mit Fristen ausgeben.

    Für einen Prozesstyp gelten die Fristen der ersten Leistungsart, die ihn nutzt
    (alphabetisch).
    """
    from models.course import render_course
    from models.process import ProcessDefinitionError, load_registry

    try:
        services = load_registry(process_dir).services
    except ProcessDefinitionError as exc:
        console.print(f"[red]{exc}[/red]")
        raise typer.Exit(1) from None
    using = (
        [name]
        if name in services
        else sorted(s for s, c in services.items() if c.process.name == name)
    )
    if not using:
        console.print(f"[red]Unbekannte Leistungsart oder Prozesstyp {name!r}[/red]")
        raise typer.Exit(2)
    typer.echo(render_course(services[using[0]]), nl=False)


def report_running_cases(registry: Registry, database_url: str | None) -> None:
    """Print `running_case_lines` for `database_url` (else ``KEL_DATABASE_URL``): for
    ``kel check-config``. A database that does not exist, cannot be reached or is not
    migrated is reported in one line and skipped (nothing is created)."""
    from pydantic import ValidationError
    from sqlalchemy.engine import make_url
    from sqlalchemy.exc import SQLAlchemyError

    from models.settings import Settings

    try:
        url = database_url or Settings().database_url
        parsed = make_url(url)
        name = parsed.database or ""
        if parsed.get_backend_name() == "sqlite" and name and not Path(name).exists():
            console.print("Laufende Fälle nicht geprüft: keine Datenbank unter dieser Adresse.")
            return
        lines = running_case_lines(url, registry)
    except (SQLAlchemyError, ValidationError) as exc:
        console.print(
            f"Laufende Fälle nicht geprüft: Datenbank nicht erreichbar oder nicht migriert "
            f"({type(exc).__name__}; `kel db upgrade`?).",
            markup=False,
        )
        return
    if not lines:
        console.print("Alle laufenden Fälle laufen auf der aktuellen Prozessversion.")
        return
    console.print("Laufende Fälle auf älteren Prozessversionen (behalten ihre Fristen):")
    for line in lines:
        console.print(line, markup=False)


def running_case_lines(url: str, registry: Registry) -> list[str]:
    """German lines for ``kel check-config``: per Leistungsart the running cases on older
    versions of its definition and what the current one would change for them (issue
    10.4, `tasks.process_versions.pending_changes`). Empty when all run on the current."""
    from models.db import session
    from tasks.process_versions import current_version, pending_changes

    with session(url) as s:
        pending = pending_changes(s, registry)
    lines: list[str] = []
    for key, older in pending.items():
        service = registry.service(key)
        lines.append(f"{service.title} ({key}), aktuelle Version {current_version(service)}:")
        for entry in older:
            lines += _older_lines(entry)
        lines.append(f"  Umstellen (mit Audit): kel process migrate-cases {key}")
    return lines


def _older_lines(entry: OlderVersion) -> list[str]:
    """One older version: its count, each period change with what the cases keep, then
    the other changes (e.g. "Zwischenmeldung: P6W → P8W: 12 laufende Fälle behalten P6W")."""
    from models.german import anzahl, numerus

    cases = anzahl(entry.cases, "laufender Fall", "laufende Fälle")
    if entry.version is None:
        return [f"  ohne festgehaltene Version: {cases} (folgen der aktuellen Definition)"]
    keep = numerus(entry.cases, "behält", "behalten")
    periods = {f"{title}: {a} → {b}": a for title, a, b in entry.periods}
    return [
        f"  Version {entry.version}: {cases}",
        *[f"    {change}: {cases} {keep} {old}" for change, old in periods.items()],
        *[f"    {change}" for change in entry.changes if change not in periods],
    ]


@app.command("migrate-cases")
def migrate_cases(
    service_type: Annotated[str, typer.Argument(help="Leistungsart (z. B. schulden)")],
    dry_run: Annotated[
        bool, typer.Option("--dry-run", help="Nur anzeigen, was umgestellt würde")
    ] = False,
    process_dir: Annotated[Path | None, typer.Option(help="Verzeichnis der Prozess-YAML")] = None,
    database_url: Annotated[
        str | None, typer.Option(help="Datenbank; ohne: KEL_DATABASE_URL")
    ] = None,
) -> None:
    """Laufende Fälle einer Leistungsart auf die aktuelle Prozessversion umstellen.

    Alle oder keiner: enthält die aktuelle Version den Zustand oder eine offene Frist
    eines Falls nicht mehr, wird nichts umgestellt. Jede Umstellung steht im
    Audit-Protokoll (alte und neue Version). Laufende Fristen behalten ihr
    Fälligkeitsdatum; die nächsten Ereignisse und Erinnerungen folgen der neuen Version.
    """
    import getpass

    from models.clock import SystemClock
    from models.db import write_session
    from models.german import anzahl
    from models.process import ProcessDefinitionError, UnknownServiceType, load_registry
    from models.settings import Settings
    from tasks.process_versions import MigrationRefused
    from tasks.process_versions import migrate_cases as migrate
    from tasks.repository import Actor

    try:
        registry = load_registry(process_dir)
        with write_session(database_url or Settings().database_url) as s:
            done = migrate(
                s,
                registry,
                service_type,
                now=SystemClock().now(),
                actor=Actor(f"cli:{getpass.getuser()}", "admin"),
                dry_run=dry_run,
            )
    except (ProcessDefinitionError, MigrationRefused, UnknownServiceType) as exc:
        console.print(str(exc.args[0]) if exc.args else str(exc), style="red", markup=False)
        raise typer.Exit(1) from None
    cases = anzahl(len(done.references), "laufender Fall", "laufende Fälle")
    verb = "würden umgestellt" if dry_run else "umgestellt"
    console.print(f"{cases} {verb} auf Version {done.version}.", markup=False)
    for reference in done.references:
        console.print(f"  {reference}", markup=False)
    if done.references:
        console.print("Laufende Fristen behalten ihr Fälligkeitsdatum (keine Neuberechnung).")
