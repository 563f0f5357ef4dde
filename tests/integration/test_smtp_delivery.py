from collections.abc import Iterator
from datetime import date
from email import message_from_bytes, policy
from pathlib import Path

import pytest

from notifications import TEMPLATES, AppriseNotifier, SmtpSink, render, smtp_url
from notifications.smtp_sink import _free_port

SENDER = "kel-flow@jobcenter.example"

CONTEXT = {
    "provider_name": "Caritas Suchtberatung",
    "voucher_number": "GS-2025-0099",
    "referral_id": 7,
    "reference": "Z-000007",
    "service_title": "Suchtberatung",
    "deadline_title": "1. Rückmeldung",
    "due_on": date(2025, 6, 2),
    "expires_on": date(2025, 6, 16),
    "occurred_on": date(2025, 5, 28),
    "source": "Mindeststandard Düsseldorf, seed 002 §4.2",
    "days_overdue": 5,
    "state_title": "Erstgespräch vereinbart",
    "site": "Geschäftsstelle Süd",
    "event_title": "Schweigepflichtentbindung widerrufen",
    "app_url": "",
}


@pytest.fixture
def sink(tmp_path: Path) -> Iterator[SmtpSink]:
    with SmtpSink(tmp_path / "mail") as sink:
        yield sink


def test_every_template_arrives_over_smtp_with_umlauts_intact(sink: SmtpSink) -> None:
    notifier = AppriseNotifier(smtp_url(sink.host, sink.port, SENDER), sender=SENDER)
    messages = [
        render(t, key=f"ref-7:{t}", to=f"{t.replace('_', '-')}@example.org", context=CONTEXT)
        for t in TEMPLATES
    ]

    deliveries = [notifier.send(m) for m in messages]

    assert all(d.ok for d in deliveries), deliveries
    received = sink.wait_for(len(messages))
    assert len(received) == len(messages)
    by_to = {str(r["To"]): r for r in received}
    for message in messages:
        mail = by_to[message.to]
        assert mail["Subject"] == message.subject
        assert SENDER in str(mail["From"])
        html = mail.get_body(preferencelist=("html",))
        text = mail.get_body(preferencelist=("plain",))
        assert html is not None and text is not None
        assert "GS-2025-0099" in html.get_content()
        assert "GS-2025-0099" in text.get_content()
        assert "Suchtberatung" in text.get_content()


def test_umlaut_subject_is_decoded_and_saved_as_eml(sink: SmtpSink) -> None:
    notifier = AppriseNotifier(smtp_url(sink.host, sink.port, SENDER), sender=SENDER)
    message = render(
        "caseworker_overdue", key="ref-7:dl-1:step-1", to="ifk@example.org", context=CONTEXT
    )

    assert notifier.send(message).ok

    (mail,) = sink.wait_for(1)
    assert (
        mail["Subject"]
        == "Überfällig: 1. Rückmeldung zu Gutschein GS-2025-0099 (fällig am 02.06.2025)"
    )
    assert sink.out_dir is not None
    (eml,) = sink.out_dir.glob("*.eml")
    assert eml.name.startswith("0001-Ueberfaellig-1-Rueckmeldung")
    assert message_from_bytes(eml.read_bytes(), policy=policy.default)["Subject"] == mail["Subject"]


def test_send_to_a_closed_port_returns_a_failed_delivery() -> None:
    port = _free_port("127.0.0.1")
    notifier = AppriseNotifier(smtp_url("127.0.0.1", port, SENDER), sender=SENDER)
    message = render("caseworker_status", key="k", to="ifk@example.org", context=CONTEXT)

    delivery = notifier.send(message)

    assert not delivery.ok
    assert delivery.error
    assert "ifk@example.org" not in delivery.error
