"""The rendered e-mail, ready to send: the hand-over between render and send."""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class Message:
    """One rendered notification e-mail (Benachrichtigung).

    ``key`` is the notification's idempotency key, unique per referral,
    deadline and ladder step (e.g. ``"ref-12:dl-40:step-1"``, DESIGN §4.5);
    a sender may be called twice with the same key, the outbox must not
    deliver twice. ``to`` is one e-mail address. ``subject`` is one line,
    ``text`` the plain-text body, ``html`` the HTML body of the same content.
    Carries IDs only, never customer names or counselling content (§4.4).
    """

    key: str
    to: str
    subject: str
    text: str
    html: str
