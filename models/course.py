"""The ``course`` of a process type as a numbered German list (issue 10, point 3).

`render_course` writes the happy path of one Leistungsart (its process type's ``course``,
`models.process.CourseStep`) with the deadline each step meets: its title, its period from
the Kommune's Mindeststandards (seed 002 §4.2) and the step it is counted from. Used by
``kel process course`` and pasted into the README (a test keeps both equal).
"""

from __future__ import annotations

import re

from models.process import ServiceConfig

START_TITLE = "Zuweisung"
"""Title of the first step (the referral is made; no event)."""

_UNITS = {"D": ("Tag", "Tage"), "W": ("Woche", "Wochen"), "M": ("Monat", "Monate")}


def period_text(period: str | None, working_days: bool = False) -> str:
    """``P14D`` → "14 Tage" (or "14 Arbeitstage" with `working_days`), ``P6W`` →
    "6 Wochen", ``P1M`` → "1 Monat", None → "individuell"; another form as it is."""
    if period is None:
        return "individuell"
    match = re.fullmatch(r"P(\d+)([DWM])", period)
    if match is None:
        return period
    amount, unit = int(match.group(1)), match.group(2)
    one, many = ("Arbeitstag", "Arbeitstage") if working_days and unit == "D" else _UNITS[unit]
    return f"{amount} {one if amount == 1 else many}"


def course_lines(config: ServiceConfig) -> list[str]:
    """The course of `config`'s process type as lines: ``"N. <event> → <state>"`` per step,
    followed by ``"   Frist „<title>“: <period> nach Schritt M"`` for each deadline the
    step meets (started by step M and still open; "individuell" where the standards name no
    period). Only the heading when the process has no course."""
    process, lines = config.process, []
    open_since: dict[str, int] = {}
    for number, step in enumerate(process.course, start=1):
        state = process.states[step.state].title
        if step.event is None:
            lines.append(f"{number}. {START_TITLE} → {state}")
            open_since |= dict.fromkeys(process.with_followers(process.initial_deadlines), number)
            continue
        t = next(t for t in process.transitions if t.event == step.event)
        lines.append(f"{number}. {t.title} → {state}")
        for kind in [k for k in t.complete if k in open_since]:
            lines.append(_deadline_line(config, kind, open_since.pop(kind)))
        if t.cancel == "all":
            open_since.clear()
        for kind in [] if t.cancel == "all" else t.cancel:
            open_since.pop(kind, None)
        restarted = [k for k in t.complete if process.deadlines[k].recurs]
        if not process.states[step.state].final:
            open_since |= dict.fromkeys(process.with_followers([*t.start, *restarted]), number)
    return lines


def _deadline_line(config: ServiceConfig, kind: str, since: int) -> str:
    period = config.period(kind)
    title = config.process.deadlines[kind].title
    if period is None:
        return f"   Frist „{title}“: individuell, keine feste Frist"
    return f"   Frist „{title}“: {period_text(period, config.working_days)} nach Schritt {since}"


def render_course(config: ServiceConfig) -> str:
    """`course_lines` under a heading naming the Leistungsart and process, as one text
    ending in a newline."""
    heading = f"Ablauf {config.title} ({config.process.title}):"
    return "\n".join([heading, *course_lines(config)]) + "\n"
