"""Send notification e-mails over SMTP with `smtplib`: a stable Message-ID, one connection
for many e-mails.

Why not Apprise for the sending (it still reads the ``KEL_SMTP_URL``): Apprise 1.13 sets a
random ``Message-ID`` (``make_msgid``) after the custom headers of the URL, so a header
``+Message-ID=…`` yields two Message-ID fields (RFC 5322 allows one) and the random one
stays; and it opens a new connection with a new SSL context for every e-mail. Here the
Message-ID is derived from the notification key (`message_id`), so a mail sent again
after a crash between the server's "250" and our commit carries the same ID and a
receiving server or client can drop the duplicate (issue 9, point 4).
"""

from __future__ import annotations

import hashlib
import smtplib
import ssl
from collections.abc import Iterator
from contextlib import contextmanager, suppress
from dataclasses import dataclass, field
from email.message import EmailMessage
from email.utils import formataddr, formatdate
from typing import Literal, cast
from urllib.parse import parse_qsl, urlencode, urlsplit, urlunsplit

import apprise
from apprise.plugins.email import NotifyEmail

from notifications.message import Message
from notifications.sender import Delivery

Mode = Literal["insecure", "starttls", "ssl"]

#: Seconds smtplib waits for the server on connect and on each command.
TIMEOUT = 30.0


def message_id(key: str, sender: str) -> str:
    """The Message-ID of the notification with idempotency `key`, e.g.
    ``<3f2a…(32 hex)@kel-flow.jobcenter.example>`` for sender ``x@jobcenter.example``.

    The same key always gives the same ID; the hash carries no personal data (the key
    holds IDs only, and only its SHA-256 prefix is sent)."""
    digest = hashlib.sha256(key.encode("utf-8")).hexdigest()[:32]
    domain = sender.rpartition("@")[2] or "localhost"
    return f"<{digest}@kel-flow.{domain}>"


def build_email(message: Message, sender: str) -> EmailMessage:
    """`message` as a MIME e-mail from `sender`: multipart/alternative (text, HTML),
    UTF-8 headers, the stable `message_id`, ``Auto-Submitted: auto-generated`` (RFC 3834:
    no auto-replies to a notification)."""
    mail = EmailMessage()
    mail["Subject"] = message.subject
    mail["From"] = formataddr(("kel-flow", sender))
    mail["To"] = message.to
    mail["Date"] = formatdate(localtime=True)
    mail["Message-ID"] = message_id(message.key, sender)
    mail["Auto-Submitted"] = "auto-generated"
    mail.set_content(message.text)
    mail.add_alternative(message.html, subtype="html")
    return mail


@dataclass(frozen=True)
class SmtpServer:
    """Where and how to connect: `mode` ``insecure`` (plain, e.g. a local relay),
    ``starttls`` or ``ssl``; `user`/`password` for AUTH (both or neither)."""

    host: str
    port: int
    mode: Mode = "insecure"
    user: str | None = None
    password: str | None = field(default=None, repr=False)
    verify: bool = True
    timeout: float = TIMEOUT

    @classmethod
    def from_apprise_url(cls, url: str, sender: str) -> SmtpServer:
        """Read an Apprise ``mailto://``/``mailtos://`` URL (``KEL_SMTP_URL``) the way
        Apprise reads it (known providers, default ports per mode, ``smtp=``, ``mode=``,
        ``verify=``). Raises `ValueError` for a URL Apprise does not accept as e-mail."""
        parts = urlsplit(url)
        query = [(k, v) for k, v in parse_qsl(parts.query) if k not in ("from", "to")]
        query += [("from", sender), ("to", sender)]
        plugin = apprise.Apprise.instantiate(urlunsplit(parts._replace(query=urlencode(query))))
        if not isinstance(plugin, NotifyEmail) or not plugin.port:
            raise ValueError("KEL_SMTP_URL ist keine gültige Apprise-E-Mail-URL (mailto://…).")
        mode = cast(Mode, plugin.secure_mode if plugin.secure else "insecure")
        return cls(
            host=str(plugin.smtp_host),
            port=int(plugin.port),
            mode=mode,
            user=plugin.user or None,
            password=plugin.password or None,
            verify=bool(plugin.verify_certificate),
        )

    def ssl_context(self) -> ssl.SSLContext:
        context = ssl.create_default_context()
        if not self.verify:
            context.check_hostname = False
            context.verify_mode = ssl.CERT_NONE
        return context


class SmtpConnection:
    """One SMTP session used for several e-mails, opened on the first send. After an
    error it is closed and the next send opens a new one; a reused session is checked
    with ``NOOP`` first (a server may have closed an idle connection)."""

    def __init__(self, server: SmtpServer, sender: str, context: ssl.SSLContext | None) -> None:
        self._server, self._sender, self._context = server, sender, context
        self._smtp: smtplib.SMTP | None = None

    def _open(self) -> smtplib.SMTP:
        s = self._server
        if s.mode == "ssl":
            smtp: smtplib.SMTP = smtplib.SMTP_SSL(
                s.host, s.port, timeout=s.timeout, context=self._context
            )
        else:
            smtp = smtplib.SMTP(s.host, s.port, timeout=s.timeout)
        if s.mode == "starttls":
            smtp.starttls(context=self._context)
        if s.user and s.password:
            smtp.login(s.user, s.password)
        return smtp

    def _session(self) -> smtplib.SMTP:
        if self._smtp is not None:
            try:
                if self._smtp.noop()[0] == 250:
                    return self._smtp
            except (OSError, smtplib.SMTPException):
                pass
            self.close()
        self._smtp = self._open()
        return self._smtp

    def send(self, message: Message) -> Delivery:
        """Send `message`; ``Delivery(ok=True)`` only when the server accepted it (2xx
        after DATA). Never raises for an SMTP or network error; the error text names no
        address."""
        try:
            self._session().send_message(build_email(message, self._sender))
        except Exception as exc:  # a notifier must not raise; the outbox retries
            self.close()
            return Delivery(ok=False, error=describe(exc, message.to))
        return Delivery(ok=True)

    def close(self) -> None:
        smtp, self._smtp = self._smtp, None
        if smtp is not None:
            with suppress(OSError, smtplib.SMTPException):
                smtp.quit()
            with suppress(OSError):
                smtp.close()


def describe(exc: BaseException, to: str) -> str:
    """A short German error text for a failed send, without the recipient's address."""
    if isinstance(exc, smtplib.SMTPRecipientsRefused):
        codes = sorted({str(code) for code, _ in exc.recipients.values()})
        detail = f"Empfänger abgelehnt ({', '.join(codes)})"
    elif isinstance(exc, smtplib.SMTPResponseException):
        text = (
            exc.smtp_error.decode("utf-8", "replace") if isinstance(exc.smtp_error, bytes) else ""
        )
        detail = f"{type(exc).__name__} {exc.smtp_code} {text}"
    else:
        detail = f"{type(exc).__name__}: {exc}"
    detail = " ".join(detail.split()).replace(to, "<Empfänger>")
    return f"Versand fehlgeschlagen: {detail}"[:500]


class SmtpNotifier:
    """Sends a :class:`Message` as e-mail through one SMTP server (see `SmtpServer`).

    `send` opens a connection per e-mail; `connection` gives one connection for many
    (what the outbox uses: one per worker thread and batch). The SSL context is built
    once. A `Notifier` (``notifications.Notifier``): never raises for a failed delivery.
    """

    def __init__(self, server: SmtpServer, sender: str) -> None:
        self.server, self.sender = server, sender
        self._context = server.ssl_context() if server.mode != "insecure" else None

    @classmethod
    def from_url(cls, url: str, sender: str) -> SmtpNotifier:
        """From an Apprise e-mail URL (``KEL_SMTP_URL``, `SmtpServer.from_apprise_url`)."""
        return cls(SmtpServer.from_apprise_url(url, sender), sender)

    @contextmanager
    def connection(self) -> Iterator[SmtpConnection]:
        """One SMTP session for several sends, closed (``QUIT``) at the end."""
        connection = SmtpConnection(self.server, self.sender, self._context)
        try:
            yield connection
        finally:
            connection.close()

    def send(self, message: Message) -> Delivery:
        with self.connection() as connection:
            return connection.send(message)
