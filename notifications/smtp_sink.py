"""A real local SMTP server that keeps what it receives: for the demo and integration tests."""

from __future__ import annotations

import re
import socket
import threading
import time
from email import policy
from email.message import EmailMessage
from email.parser import BytesParser
from pathlib import Path
from types import TracebackType
from typing import Any

from aiosmtpd.controller import Controller

_ASCII = str.maketrans(
    {"ä": "ae", "ö": "oe", "ü": "ue", "Ä": "Ae", "Ö": "Oe", "Ü": "Ue", "ß": "ss"}
)


def _free_port(host: str) -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind((host, 0))
        return int(s.getsockname()[1])


def _file_name(number: int, subject: str) -> str:
    slug = re.sub(r"[^A-Za-z0-9]+", "-", subject.translate(_ASCII)).strip("-")[:60]
    return f"{number:04d}-{slug or 'ohne-betreff'}.eml"


class SmtpSink:
    """SMTP server on 127.0.0.1 and a free port, run in a thread while the ``with`` block lasts.

    ``messages`` collects every received e-mail as ``EmailMessage`` (headers
    decoded, ``policy.default``); with ``out_dir`` each one is also written
    there unchanged as ``0001-<subject>.eml``. Accepts any sender and
    recipient, no TLS, no AUTH: for tests and the demo, never production.
    """

    def __init__(self, out_dir: Path | None = None, host: str = "127.0.0.1") -> None:
        self.host = host
        self.port = 0
        self.out_dir = out_dir
        self.messages: list[EmailMessage] = []
        self._received = threading.Condition()
        self._controller: Controller | None = None

    # aiosmtpd handler hook: called once per received e-mail.
    async def handle_DATA(self, server: Any, session: Any, envelope: Any) -> str:
        raw: bytes = envelope.original_content or envelope.content
        # policy.default: an EmailMessage with decoded (UTF-8) headers.
        message = BytesParser(policy=policy.default).parsebytes(raw)
        with self._received:
            self.messages.append(message)
            if self.out_dir is not None:
                name = _file_name(len(self.messages), str(message.get("subject", "")))
                (self.out_dir / name).write_bytes(raw)
            self._received.notify_all()
        return "250 Message accepted for delivery"

    def __enter__(self) -> SmtpSink:
        if self.out_dir is not None:
            self.out_dir.mkdir(parents=True, exist_ok=True)
        self.port = _free_port(self.host)
        self._controller = Controller(self, hostname=self.host, port=self.port)
        self._controller.start()
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        if self._controller is not None:
            self._controller.stop()
            self._controller = None

    def wait_for(self, n: int, timeout: float = 5.0) -> list[EmailMessage]:
        """Block until at least ``n`` messages arrived; return a copy of them.

        Raises ``TimeoutError`` if they have not arrived within ``timeout`` seconds.
        """
        deadline = time.monotonic() + timeout
        with self._received:
            while len(self.messages) < n:
                remaining = deadline - time.monotonic()
                if remaining <= 0:
                    raise TimeoutError(
                        f"{len(self.messages)} von {n} E-Mails nach {timeout} s empfangen"
                    )
                self._received.wait(remaining)
            return list(self.messages)
