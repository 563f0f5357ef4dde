"""Notifications: render a template into a :class:`Message`, then send it with a ``Notifier``.

Templates are German (formal "Sie") and carry IDs only, never customer
names or counselling content (Sozialdatenschutz, DESIGN §4.4).
"""

from notifications.message import Message
from notifications.render import TEMPLATES, UnknownTemplate, render
from notifications.sender import (
    AppriseNotifier,
    Delivery,
    Notifier,
    RecordingNotifier,
    smtp_url,
)
from notifications.smtp import SmtpNotifier, message_id
from notifications.smtp_sink import SmtpSink

__all__ = [
    "TEMPLATES",
    "AppriseNotifier",
    "Delivery",
    "Message",
    "Notifier",
    "RecordingNotifier",
    "SmtpNotifier",
    "SmtpSink",
    "UnknownTemplate",
    "message_id",
    "render",
    "smtp_url",
]
