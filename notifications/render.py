"""Render notification templates (German, formal "Sie") into a :class:`Message`."""

from __future__ import annotations

from collections.abc import Mapping
from functools import lru_cache
from typing import Any

from jinja2 import Environment, PackageLoader, StrictUndefined, select_autoescape

from models.german import datum
from notifications.message import Message

TEMPLATES: tuple[str, ...] = (
    "provider_reminder",
    "customer_reminder",
    "caseworker_overdue",
    "coordinator_escalation",
    "caseworker_status",
    "escalation_second_step",
    "funder_notice",
)
"""Names of the available templates; each has ``.subject.txt``, ``.txt`` and ``.html``."""


class UnknownTemplate(KeyError):
    """Raised by :func:`render` for a template name not in :data:`TEMPLATES`."""


@lru_cache(maxsize=1)
def environment() -> Environment:
    """The Jinja2 environment, built once: undefined variables raise; every template is
    autoescaped (HTML bodies, macros, templates from strings) except the plain-text ones
    (``*.txt``: subject and text body, which are not markup)."""
    env = Environment(
        loader=PackageLoader("notifications", "templates"),
        autoescape=select_autoescape(
            enabled_extensions=("html", "htm", "xml", "html.j2"),
            disabled_extensions=("txt",),
            default_for_string=True,
            default=True,
        ),
        undefined=StrictUndefined,
        trim_blocks=True,
        lstrip_blocks=True,
        keep_trailing_newline=True,
    )
    env.filters["datum"] = datum
    return env


def render(template: str, *, key: str, to: str, context: Mapping[str, Any]) -> Message:
    """Render ``template`` for recipient ``to`` into a :class:`Message` with idempotency ``key``.

    ``context`` holds IDs, titles and dates only (see each template; all take
    ``app_url``, empty for no link). Raises :class:`UnknownTemplate` for an
    unknown name and ``jinja2.UndefinedError`` when a context variable is missing.
    """
    if template not in TEMPLATES:
        raise UnknownTemplate(f"Unbekannte Benachrichtigungsvorlage: {template!r}")
    env = environment()
    values = dict(context)
    subject = env.get_template(f"{template}.subject.txt").render(values)
    return Message(
        key=key,
        to=to,
        subject=" ".join(subject.split()),
        text=env.get_template(f"{template}.txt").render(values),
        html=env.get_template(f"{template}.html").render(values),
    )
