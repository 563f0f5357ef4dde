import re
from datetime import date
from pathlib import Path

import jinja2
import pytest
from jinja2 import meta

from notifications import TEMPLATES, Message, RecordingNotifier, UnknownTemplate, render
from notifications.render import environment

TEMPLATE_DIR = Path(__file__).parents[2] / "notifications" / "templates"

CONTEXT = {
    "provider_name": "Diakonie Schuldnerberatung",
    "voucher_number": "GS-2025-0042",
    "referral_id": 12,
    "reference": "Z-000012",
    "service_title": "Schuldnerberatung",
    "deadline_title": "1. Rückmeldung",
    "due_on": date(2025, 3, 14),
    "expires_on": date(2025, 4, 1),
    "occurred_on": date(2025, 3, 10),
    "source": "Mindeststandard Düsseldorf, seed 002 §4.2",
    "days_overdue": 3,
    "state_title": "Gutschein ausgegeben",
    "site": "Geschäftsstelle Mitte",
    "event_title": "Träger hat abgelehnt – Neuzuweisung erforderlich",
    "app_url": "https://kel.example/referrals/ref-12",
}

# Only IDs, titles and dates may reach a template (Sozialdatenschutz, DESIGN §4.4).
ALLOWED_VARIABLES = set(CONTEXT) | {"details"}  # "details": the macro from _macros.html


def rendered(template: str, **overrides: object) -> Message:
    return render(
        template, key="ref-12:dl-40:step-1", to="ifk@jobcenter.example", context=CONTEXT | overrides
    )


@pytest.mark.parametrize("template", TEMPLATES)
def test_every_template_renders_a_german_subject_text_and_html(template: str) -> None:
    message = rendered(template)

    assert message.key == "ref-12:dl-40:step-1"
    assert message.to == "ifk@jobcenter.example"
    assert "GS-2025-0042" in message.subject
    assert "\n" not in message.subject
    assert "GS-2025-0042" in message.text
    assert "Sie " in message.text
    assert '<html lang="de">' in message.html
    assert "GS-2025-0042" in message.html


def test_provider_reminder_names_voucher_and_deadline_in_the_subject() -> None:
    message = rendered("provider_reminder", due_on=date(2025, 3, 4), deadline_title="Erstgespräch")
    interim = rendered("provider_reminder", deadline_title="Zwischenmeldung")

    assert message.subject == "Erinnerung: Erstgespräch für Gutschein GS-2025-0042 bis 04.03.2025"
    assert interim.subject.startswith("Erinnerung: Zwischenmeldung für Gutschein GS-2025-0042")
    assert "vereinbarten Mindeststandards" in message.text
    assert "seed" not in message.text + message.html  # no source reference of the project


def test_escalation_counts_days_in_german() -> None:
    assert "seit 1 Tag überfällig" in rendered("coordinator_escalation", days_overdue=1).subject
    assert "seit 3 Tagen überfällig" in rendered("coordinator_escalation").subject


def test_customer_reminder_points_to_the_caseworker_and_has_no_staff_link() -> None:
    message = rendered("customer_reminder")

    assert "Integrationsfachkraft" in message.text
    assert "01.04.2025" in message.subject
    assert CONTEXT["app_url"] not in message.text
    assert CONTEXT["app_url"] not in message.html


# customers and the Leistungsträger (funder_notice) have no kel-flow login: no link
@pytest.mark.parametrize(
    "template", [t for t in TEMPLATES if t not in ("customer_reminder", "funder_notice")]
)
def test_staff_messages_link_to_the_referral_only_when_an_app_url_is_given(template: str) -> None:
    assert CONTEXT["app_url"] in rendered(template).html
    assert CONTEXT["app_url"] in rendered(template).text
    assert "kel-flow öffnen" not in rendered(template, app_url="").html
    assert "kel-flow öffnen" not in rendered(template, app_url="").text


@pytest.mark.parametrize("template", TEMPLATES)
def test_html_is_escaped(template: str) -> None:
    message = rendered(template, provider_name="<script>alert(1)</script>")

    assert "<script>" not in message.html
    assert "&lt;script&gt;alert(1)&lt;/script&gt;" in message.html


@pytest.mark.parametrize("template", TEMPLATES)
def test_missing_context_variable_raises(template: str) -> None:
    context = {k: v for k, v in CONTEXT.items() if k != "voucher_number"}

    with pytest.raises(jinja2.UndefinedError):
        render(template, key="k", to="x@example.org", context=context)


def test_unknown_template_raises_a_key_error() -> None:
    with pytest.raises(UnknownTemplate, match="Unbekannte Benachrichtigungsvorlage") as info:
        render("kunden_brief", key="k", to="x@example.org", context=CONTEXT)

    assert isinstance(info.value, KeyError)


def test_templates_take_ids_only_never_customer_data() -> None:
    env = environment()
    for path in TEMPLATE_DIR.iterdir():
        source = path.read_text(encoding="utf-8")
        variables = meta.find_undeclared_variables(env.parse(source))

        assert variables <= ALLOWED_VARIABLES, path.name
        assert not re.search(r"\bName\b|Geburtsdatum|Kundennummer|Vorname", source), path.name


def test_recording_notifier_records_sent_messages() -> None:
    notifier = RecordingNotifier()
    message = rendered("caseworker_overdue")

    assert notifier.send(message).ok

    assert notifier.sent == [message]


def test_recording_notifier_fails_on_request_then_delivers() -> None:
    notifier = RecordingNotifier()
    first, second = rendered("caseworker_status"), rendered("provider_reminder")
    second = Message(second.key + "-b", second.to, second.subject, second.text, second.html)
    notifier.fail_key(first.key, 2)
    notifier.fail_next(1)

    results = [notifier.send(m).ok for m in (second, first, first, first, second)]

    assert results == [False, False, False, True, True]
    assert notifier.sent == [first, second]
    assert len(notifier.attempts) == 5
