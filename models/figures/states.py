"""Which states and deadlines a report counts, read from the process definitions.

The reports never name a state or deadline of a process: "open" is every state not
``final``, "in counselling" every state with ``counselling: true``, a "Rückmeldefrist"
every deadline a ``report: true`` event completes (1. Rückmeldung, Zwischen-,
Ergebnismeldung in the shipped process, seed 002 §4.2); titles and their order are those
of the definitions (`models.process`).
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field

from models.process import ProcessDef, Registry


@dataclass(frozen=True)
class ReportStates:
    """The state and deadline names a report needs, over one or more process types.

    `titles`: every state's German title, in the order the definitions list them (the
    process's course; the first definition naming a state gives its title); `final`,
    `counselling`: the states flagged so; `feedback_deadlines`: deadline names completed
    by an event that carries the provider's report.
    """

    titles: dict[str, str] = field(default_factory=dict)
    final: frozenset[str] = frozenset()
    counselling: frozenset[str] = frozenset()
    feedback_deadlines: frozenset[str] = frozenset()

    def title(self, state: str) -> str:
        """The German title of `state`; the name itself for a state no definition knows."""
        return self.titles.get(state, state)

    def order(self, state: str) -> tuple[int, str]:
        """Sort key: states in definition order, unknown ones after them by name."""
        order = list(self.titles)
        return (order.index(state) if state in self.titles else len(order), state)


def report_states(processes: Iterable[ProcessDef]) -> ReportStates:
    """`ReportStates` of `processes` (see the class)."""
    titles: dict[str, str] = {}
    final: set[str] = set()
    counselling: set[str] = set()
    feedback: set[str] = set()
    for process in processes:
        for name, state in process.states.items():
            titles.setdefault(name, state.title)
            if state.final:
                final.add(name)
            if state.counselling:
                counselling.add(name)
        for transition in process.transitions:
            if transition.report:
                feedback.update(transition.complete)
    return ReportStates(titles, frozenset(final), frozenset(counselling), frozenset(feedback))


def registry_states(registry: Registry) -> ReportStates:
    """`ReportStates` of the process types the Leistungsarten of `registry` use."""
    return report_states(service.process for service in registry.services.values())
