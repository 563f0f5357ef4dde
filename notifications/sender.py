"""Send a rendered :class:`Message`: the ``Notifier`` protocol, Apprise and a recording fake."""

from __future__ import annotations

import logging
from collections import Counter
from dataclasses import dataclass
from typing import Protocol, runtime_checkable
from urllib.parse import parse_qsl, quote, urlencode, urlsplit, urlunsplit

import apprise

from notifications.message import Message


@dataclass(frozen=True)
class Delivery:
    """Outcome of one send: ``ok``, or ``ok=False`` with a short ``error`` text."""

    ok: bool
    error: str | None = None


@runtime_checkable
class Notifier(Protocol):
    """Sends one :class:`Message`; never raises for a failed delivery, returns ``Delivery``."""

    def send(self, message: Message) -> Delivery: ...


def smtp_url(host: str, port: int, sender: str) -> str:
    """Apprise URL for a plain SMTP server without TLS and without login.

    ``mailto://`` (not ``mailtos://``) with ``mode=insecure`` means no TLS;
    no user/password in the URL means no ``AUTH``; ``smtp=`` names the server
    so Apprise does not guess one from a known mail provider.
    """
    query = urlencode({"smtp": host, "mode": "insecure", "from": sender})
    return f"mailto://{host}:{port}/?{query}"


class AppriseNotifier:
    """Sends a :class:`Message` as e-mail through Apprise.

    ``url`` is an Apprise ``mailto://``/``mailtos://`` URL of the SMTP server
    (see :func:`smtp_url`); ``sender`` the From address. The recipient is
    ``message.to``. The e-mail is multipart/alternative: the HTML body plus a
    plain-text part that Apprise derives from it (Apprise does not take a
    separate text body). Apprise reports failure as ``False``, not as an
    exception; both end up as ``Delivery(ok=False, error=...)``.
    """

    def __init__(self, url: str, sender: str) -> None:
        self._url = url
        self._sender = sender

    def _url_for(self, to: str) -> str:
        parts = urlsplit(self._url)
        query = {k: v for k, v in parse_qsl(parts.query) if k not in ("from", "to")}
        query |= {"from": self._sender, "to": to}
        return urlunsplit(parts._replace(query=urlencode(query, quote_via=quote)))

    def send(self, message: Message) -> Delivery:
        try:
            client = apprise.Apprise()
            if not client.add(self._url_for(message.to)):
                return Delivery(ok=False, error="Ungültige Apprise-URL oder Empfängeradresse")
            capture = apprise.LogCapture(level=logging.WARNING, fmt="%(message)s")  # type: ignore[no-untyped-call]
            with capture as log:
                ok = client.notify(
                    body=message.html,
                    title=message.subject,
                    body_format=apprise.NotifyFormat.HTML,
                )
            if ok:
                return Delivery(ok=True)
            # Apprise logs the recipient; keep addresses out of the error text (DESIGN §4.4).
            detail = " ".join(log.getvalue().split()).replace(message.to, "<Empfänger>")
            return Delivery(ok=False, error=f"Versand fehlgeschlagen: {detail}".strip())
        except Exception as exc:  # a notifier must not raise; the caller retries
            return Delivery(ok=False, error=f"Versand fehlgeschlagen: {exc!r}")


class RecordingNotifier:
    """Test fake: records every message; can be told to fail.

    ``attempts`` holds every message passed to :meth:`send`, ``sent`` only
    the ones that were "delivered". :meth:`fail_next` makes the next ``n``
    sends fail, :meth:`fail_key` the next ``n`` sends of one key.
    """

    def __init__(self) -> None:
        self.sent: list[Message] = []
        self.attempts: list[Message] = []
        self._fail_next = 0
        self._fail_keys: Counter[str] = Counter()

    def fail_next(self, n: int = 1) -> None:
        self._fail_next += n

    def fail_key(self, key: str, n: int = 1) -> None:
        self._fail_keys[key] += n

    def send(self, message: Message) -> Delivery:
        self.attempts.append(message)
        if self._fail_next > 0:
            self._fail_next -= 1
            return Delivery(ok=False, error="simulierter Fehler")
        if self._fail_keys[message.key] > 0:
            self._fail_keys[message.key] -= 1
            return Delivery(ok=False, error=f"simulierter Fehler für {message.key}")
        self.sent.append(message)
        return Delivery(ok=True)
