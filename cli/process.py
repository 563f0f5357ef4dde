"""``kel process``: the process definitions as people read them (BPMN 2.0)."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer
from rich.console import Console

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
