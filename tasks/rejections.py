"""Why a command is refused: the errors of the command handlers (`tasks.handlers`).

Each message is German and goes to the caller and the inbox (``Command.error``); none
names a person. Re-exported by `tasks.commands`, where the API and the dashboard import
them from.
"""

from __future__ import annotations

#: The answer for a taken Aktenzeichen: the same whoever holds it (no leak across sites).
REFERENCE_TAKEN = "Dieses Aktenzeichen ist nicht verfügbar; bitte ein anderes verwenden."


class CommandRejected(ValueError):
    """The command cannot be applied; the message (German) says why."""


class ReferenceTaken(CommandRejected):
    """A referral with this Aktenzeichen exists already (in or out of the caller's view;
    the message is the same)."""


class ExcludedAtEntry(CommandRejected):
    """An Ausschlusskriterium of the process refuses the referral, or a fact it asks for is
    missing (`models.statemachine.check_entry`, e.g. seed 004 Ziff. 2). The message names
    the criterion, which may be health data (Art. 9 DSGVO): it goes to the caller and the
    inbox, never to logs or Prefect."""


class CustomerOutOfScope(CommandRejected):
    """The customer number belongs to another site: master data stays untouched."""
