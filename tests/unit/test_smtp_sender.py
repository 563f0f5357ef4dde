"""The SMTP sender's pure parts (notifications.smtp): reading ``KEL_SMTP_URL``, the
Message-ID, the e-mail as built, error texts without addresses."""

from __future__ import annotations

import re
import smtplib

import pytest

from notifications import Message, message_id
from notifications.smtp import SmtpServer, build_email, describe

SENDER = "kel-flow@jobcenter.example"


@pytest.mark.parametrize(
    ("url", "expected"),
    [
        (
            "mailto://127.0.0.1:2525/?smtp=127.0.0.1&mode=insecure&from=x@y.example",
            ("127.0.0.1", 2525, "insecure", None, None, True),
        ),
        (
            "mailtos://kel:geheim@mail.jobcenter.example/",
            ("mail.jobcenter.example", 587, "starttls", "kel", "geheim", True),
        ),
        (
            "mailtos://kel:geheim@mail.jobcenter.example:465/?mode=ssl&verify=no",
            ("mail.jobcenter.example", 465, "ssl", "kel", "geheim", False),
        ),
        (
            "mailto://relay.jobcenter.example",
            ("relay.jobcenter.example", 25, "insecure", None, None, True),
        ),
    ],
)
def test_the_smtp_url_is_read_the_way_apprise_reads_it(
    url: str, expected: tuple[object, ...]
) -> None:
    s = SmtpServer.from_apprise_url(url, SENDER)

    assert (s.host, s.port, s.mode, s.user, s.password, s.verify) == expected
    assert "geheim" not in repr(s)


def test_a_url_that_is_not_e_mail_is_refused() -> None:
    with pytest.raises(ValueError, match="KEL_SMTP_URL"):
        SmtpServer.from_apprise_url("json://localhost/", SENDER)


def test_the_message_id_depends_only_on_the_key_and_the_senders_domain() -> None:
    first = message_id("ref-12:dl-40:step-1", SENDER)

    assert first == message_id("ref-12:dl-40:step-1", "andere@jobcenter.example")
    assert first != message_id("ref-12:dl-40:step-2", SENDER)
    assert re.fullmatch(r"<[0-9a-f]{32}@kel-flow\.jobcenter\.example>", first)


def test_the_e_mail_has_text_and_html_one_message_id_and_no_auto_replies() -> None:
    message = Message(
        "k-1", "ifk@jobcenter.example", "Überfällig: Rückmeldung", "Text ä", "<p>ä</p>"
    )

    mail = build_email(message, SENDER)

    assert mail.get_all("Message-ID") == [message_id("k-1", SENDER)]
    assert mail["Auto-Submitted"] == "auto-generated"
    assert mail["Subject"] == "Überfällig: Rückmeldung"
    assert mail.get_content_type() == "multipart/alternative"
    assert [p.get_content_type() for p in mail.iter_parts()] == ["text/plain", "text/html"]


def test_error_texts_never_name_the_recipient() -> None:
    to = "ifk@jobcenter.example"
    refused = smtplib.SMTPRecipientsRefused({to: (550, b"5.1.1 <ifk@jobcenter.example> unknown")})
    data = smtplib.SMTPDataError(554, f"rejected for {to}".encode())

    texts = [describe(e, to) for e in (refused, data, ConnectionRefusedError(111, "refused"))]

    assert texts[0] == "Versand fehlgeschlagen: Empfänger abgelehnt (550)"
    assert texts[1] == "Versand fehlgeschlagen: SMTPDataError 554 rejected for <Empfänger>"
    assert texts[2].startswith("Versand fehlgeschlagen: ConnectionRefusedError")
    assert not any(to in t for t in texts)
