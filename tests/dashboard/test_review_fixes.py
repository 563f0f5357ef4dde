"""What the review of the dashboard found (issue 8, point 6), page by page.

No internal code (state, event, status names, source references of the project) in what
a user reads; German plural and non-breaking spaces; "gesamt" of the Eintrittsplanung and
the confirmation of a save; the Prefect link (coordinators and admins only, the configured
base, the tag the runs carry); reads collapsed in the history; unique ids per page; the
demo's simulated months end where the dashboard's "Stand" is.

Cases (Schuldnerberatung, started 2.3.2026 unless said otherwise; the clock stands on
25.3.2026 after the morning sweep):

* AC-1 (Aachen, SB-CARITAS): appointment booked and kept, first feedback with content
  (no consent: the jobcenter sees the status only); 12 reads of its reports in the audit
  trail, the last one a PDF download (a report read and a content read at one moment).
* AC-2 (Aachen, SB-DIAKONIE): nothing happened; Erstgespräch and 1. Rückmeldung overdue.
* AC-3 (Aachen, SB-CARITAS): voucher returned invalid on 3.3., closed.
* AC-4 (Aachen, SB-CARITAS): started 10.3.; its Erstgespräch was due 24.3.: 1 day overdue.
* ES-1 (Eschweiler, SB-CARITAS): nothing happened; the only case of Eschweiler.
"""

from __future__ import annotations

import re
from collections import Counter
from collections.abc import Callable, Iterator
from datetime import date, datetime, timedelta
from html.parser import HTMLParser
from pathlib import Path
from urllib.parse import parse_qs, urlsplit

import pytest
from fastapi.testclient import TestClient
from sqlmodel import select

from api.dashboard.cases import ACTIONS, NOTIFICATION_STATES, NOTIFICATION_TEMPLATES, VOUCHER_STATES
from api.dashboard.web import COOKIE
from api.main import create_app
from api.security import hash_password
from api.service import Submission, submit
from api.trigger import InProcess
from demo.behaviour import plan_year
from demo.run import demo_period, run_demo
from models.clock import FakeClock
from models.commands import FeedbackIn, ReferralEvent, ReportContent
from models.db import write_session
from models.process import load_registry
from models.settings import Settings
from models.tables import Provider, Referral, User
from models.urls import case_tag
from notifications.render import TEMPLATES, render
from tasks.repository import Actor, audit
from tasks.sweep import fire_due_timers
from tests.conftest import ModuleDb
from tests.dashboard.forms import page_token, sign_in
from tests.factories import World, at, provider, world
from tests.unit.test_notifications_render import CONTEXT as MAIL_CONTEXT

JWT_SECRET = "4c7a2d5f8e0b3a6c9d2e5f8a1b4c7d0e3f6a9b2c5d8e1f4a7b0c3d6e9f2a9b1e"
PASSWORD = "Review-Fixes-2026!"
PREFECT_UI = "http://prefect.example:4200/"
STARTED = date(2026, 3, 2)
TODAY = date(2026, 3, 25)
USERS: dict[str, tuple[str, str | None, str | None]] = {
    "koordination": ("coordinator", None, None),
    "admin": ("admin", None, None),
    "ifk.aachen": ("caseworker", "Aachen", None),
    "ifk.eschweiler": ("caseworker", "Eschweiler", None),
    "traeger.caritas": ("provider", None, "SB-CARITAS"),
}
READER = Actor("ifk.aachen", "caseworker")
SESSIONS: dict[str, str] = {}
Login = Callable[[str], TestClient]

#: The pages each user opens (their own worklists and reports, and the seeded cases).
CASES = ["AC-1", "AC-2", "AC-3", "AC-4"]
PAGES = {
    "koordination": [
        "/dashboard/",
        *(f"/dashboard/faelle/{c}" for c in CASES),
        "/dashboard/traeger",
        "/dashboard/kennzahlen",
        "/dashboard/eintrittsplanung",
        "/dashboard/halbjahresbericht",
    ],
    "ifk.aachen": ["/dashboard/", *(f"/dashboard/faelle/{c}" for c in CASES)],
    "traeger.caritas": ["/dashboard/", "/dashboard/faelle/AC-1", "/dashboard/faelle/AC-3"],
}


@pytest.fixture(scope="module")
def template(module_db: ModuleDb) -> ModuleDb:
    url = module_db.url
    w = world(url)
    w.add(provider("SB-CARITAS"), provider("SB-DIAKONIE"))
    w.start("AC-1", STARTED, customer_number="K1")
    w.start("AC-2", STARTED, customer_number="K2", provider_code="SB-DIAKONIE")
    w.start("AC-3", STARTED, customer_number="K3")
    w.start("ES-1", STARTED, customer_number="K5", site="Eschweiler")
    w.event("AC-3", date(2026, 3, 3), "voucher_returned_invalid")
    w.event("AC-1", date(2026, 3, 3), "appointment_booked", appointment_on=date(2026, 3, 5))
    w.event("AC-1", date(2026, 3, 5), "appointment_kept")
    content = ReportContent(ausgangssituation="Zwölf Gläubiger")
    feedback = FeedbackIn(appointment_kept=True, content=content)
    w.event("AC-1", date(2026, 3, 5), "first_feedback", feedback=feedback)
    w.start("AC-4", date(2026, 3, 10), customer_number="K4")
    _reads(w, "AC-1")
    fire_due_timers(w.session, w.registry, w.settings, at(TODAY, 6))
    _users(w)
    sign_in_once(url)
    return module_db


def _reads(w: World, reference: str) -> None:
    """Eleven reads of the reports, one a day from 11.3., and a PDF download on 22.3."""
    with w.session() as s:
        referral_id = s.exec(select(Referral.id).where(Referral.reference == reference)).one()
        for day in range(11, 22):
            audit(s, at(date(2026, 3, day), 11), READER, "feedback_content_read", referral_id)
        pdf = at(date(2026, 3, 22), 12)
        audit(s, pdf, READER, "report_read", referral_id, report="bericht_pdf")
        audit(s, pdf, READER, "feedback_content_read", referral_id, reports=1)
        s.commit()


def _users(w: World) -> None:
    with w.session() as s:
        codes = {p.code: p.id for p in s.exec(select(Provider))}
        for username, (role, site, code) in USERS.items():
            s.add(
                User(
                    username=username,
                    role=role,
                    site=site,
                    provider_id=codes[code] if code else None,
                    password_hash=hash_password(PASSWORD),
                    created_at=at(TODAY),
                )
            )
        s.commit()


def settings_for(url: str) -> Settings:
    return Settings(database_url=url, jwt_secret=JWT_SECRET, prefect_ui_url=PREFECT_UI)


def sign_in_once(url: str) -> None:
    app = create_app(settings_for(url), clock=FakeClock(at(TODAY, 10)), trigger=InProcess())
    with TestClient(app) as browser:
        for username in USERS:
            answer = sign_in(browser, username, PASSWORD)
            assert answer.status_code == 303, answer.text
            SESSIONS[username] = answer.cookies[COOKIE]
            browser.cookies.clear()


@pytest.fixture
def kel(template: ModuleDb) -> Iterator[World]:
    with template.copy() as url:
        yield world(url)


@pytest.fixture
def login(kel: World) -> Iterator[Login]:
    app = create_app(settings_for(kel.url), clock=FakeClock(at(TODAY, 11)), trigger=InProcess())
    with TestClient(app) as client:

        def as_user(username: str) -> TestClient:
            client.cookies.clear()
            client.cookies.set(COOKIE, SESSIONS[username])
            return client

        yield as_user


# --- reading a page as a person does --------------------------------------------------------

#: Attributes a person reads or hears (screen readers) besides the text.
SPOKEN = ("title", "aria-label", "alt", "placeholder")
VOID = {"area", "br", "col", "embed", "hr", "img", "input", "link", "meta", "source", "wbr"}


class Page(HTMLParser):
    """The text a user reads (and hears) of a page, its ids, links and status regions."""

    def __init__(self, html: str) -> None:
        super().__init__(convert_charrefs=True)
        self.text: list[str] = []
        self.ids: list[str] = []
        self.links: list[str] = []
        self.status: list[str] = []
        self._skip = 0
        self._status_depth = 0
        self.feed(html)

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        found = dict(attrs)
        if tag in ("script", "style"):
            self._skip += 1
        if found.get("id"):
            self.ids.append(str(found["id"]))
        if tag == "a" and found.get("href"):
            self.links.append(str(found["href"]))
        if tag not in VOID and (found.get("role") == "status" or self._status_depth):
            self._status_depth += 1
        self.text.extend(str(found[a]) for a in SPOKEN if found.get(a))

    def handle_endtag(self, tag: str) -> None:
        if tag in ("script", "style"):
            self._skip -= 1
        if self._status_depth and tag not in VOID:
            self._status_depth -= 1

    def handle_data(self, data: str) -> None:
        if self._skip:
            return
        self.text.append(data)
        if self._status_depth and data.strip():
            self.status.append(data.strip())

    @property
    def words(self) -> str:
        """The text with runs of ordinary white space as one space (a non-breaking space
        stays what it is)."""
        return re.sub(r"[ \t\n\r\f\v]+", " ", " ".join(self.text))


def internal_codes() -> set[str]:
    """Every name the process and the pages use internally: states, events, deadline kinds,
    outcomes, audit actions, voucher, notification and escalation status codes."""
    codes: set[str] = set()
    for service in load_registry().services.values():
        process = service.process
        codes |= set(process.states) | set(process.deadlines)
        codes |= {t.event for t in process.transitions}
        codes |= {t.outcome for t in process.transitions if t.outcome}
    codes |= set(ACTIONS) | set(VOUCHER_STATES) | set(NOTIFICATION_STATES)
    codes |= set(NOTIFICATION_TEMPLATES) | set(TEMPLATES) | {"acknowledged", "resolved"}
    return codes


CODE_PATTERN = re.compile(
    r"(?<![\w-])("
    + "|".join(sorted(map(re.escape, internal_codes()), key=len, reverse=True))
    + r")(?![\w-])"
)
SOURCE_PATTERN = re.compile(r"\bseed\b|§\s?\d+\.\d|\bAnlage\s\d", re.IGNORECASE)


def opened(login: Login) -> Iterator[tuple[str, str, Page]]:
    for username, paths in PAGES.items():
        client = login(username)
        for path in paths:
            answer = client.get(path)
            assert answer.status_code == 200, (username, path, answer.status_code)
            yield username, path, Page(answer.text)


# --- no internal codes, German plural and spaces ----------------------------------------------


def test_no_page_shows_a_state_event_or_status_code_or_a_source_reference(login: Login) -> None:
    leaks = {
        (username, path, match)
        for username, path, page in opened(login)
        for match in CODE_PATTERN.findall(page.words) + SOURCE_PATTERN.findall(page.words)
    }
    assert leaks == set()


def test_the_code_scan_would_find_a_code(login: Login) -> None:
    """The scan above is not blind: the codes are in the pages' markup (form values)."""
    assert CODE_PATTERN.search("Zustand: voucher_issued")
    assert not CODE_PATTERN.search("Zustand: Gutschein ausgegeben")
    assert SOURCE_PATTERN.search("Nach seed 002 §4.1")


def test_counts_take_the_german_plural(login: Login) -> None:
    coordinator = Page(login("koordination").get("/dashboard/faelle/AC-4").text).words
    assert "offen – überfällig seit 1 Tag" in coordinator
    assert "seit 1 Tagen" not in coordinator
    assert (
        "offen – überfällig seit 9 Tagen"
        in Page(login("koordination").get("/dashboard/faelle/AC-2").text).words
    )
    eschweiler = login("ifk.eschweiler").get("/dashboard/").text
    assert "Insgesamt <strong>1</strong> offener Fall." in eschweiler
    overview = Page(login("koordination").get("/dashboard/").text).words
    assert "Insgesamt 4 offene Fälle." in overview


def test_paragraph_and_percent_signs_stay_with_their_number(login: Login) -> None:
    seen = 0
    for username, path, page in opened(login):
        assert not re.search(r"§ \d", page.words), (username, path)
        assert not re.search(r"\d %", page.words), (username, path)
        seen += len(re.findall("§\u00a016a|\\d\u00a0%", page.words))
    assert seen > 0  # the pages have them, with a non-breaking space


def test_e_mails_name_the_case_by_its_aktenzeichen_never_by_the_database_id() -> None:
    context = MAIL_CONTEXT | {"referral_id": 4711, "reference": "Z-000183"}
    for template in TEMPLATES:
        message = render(template, key="k", to="x@example.org", context=context)
        body = message.subject + message.text + message.html
        assert "4711" not in body, template
        if "Vorgang" in message.text:
            assert "Z-000183" in message.text and "Z-000183" in message.html, template


# --- Eintrittsplanung: what "gesamt" sums, and the confirmation of a save ---------------------


def soll_form(token: str, site: str, value: int) -> dict[str, str]:
    months = {f"soll_{m}": str(value) for m in range(1, 13)}
    return {
        "csrf_token": token,
        "jahr": "2026",
        "leistungsart": "schulden",
        "standort": site,
        **months,
    }


def cells(html: str, table: str, row: str) -> list[str]:
    """The cells of the row headed `row` in the table with id `table`."""
    body = html.split(f'id="{table}"', 1)[1].split("</table>", 1)[0]
    for line in re.findall(r"<tr>(.*?)</tr>", body, re.S):
        texts = [
            Page(c).words.strip() for c in re.findall(r"<t[hd][^>]*>(.*?)</t[hd]>", line, re.S)
        ]
        if texts and texts[0] == row:
            return texts
    raise AssertionError(f"no row {row!r} in {table}")


def test_gesamt_sums_the_ist_of_every_site_against_the_soll_of_the_sites_with_one(
    login: Login,
) -> None:
    coordinator = login("koordination")
    token = page_token(coordinator, "/dashboard/eintrittsplanung")
    answer = coordinator.post(
        "/dashboard/eintrittsplanung", data=soll_form(token, "Aachen", 2), follow_redirects=False
    )
    assert answer.status_code == 303

    html = coordinator.get(answer.headers["location"]).text

    # March: Ist Aachen 4 (AC-1 … AC-4) and Eschweiler 1 (no Soll); Soll Aachen 2 only
    assert cells(html, "ist-tabelle", "Eschweiler")[3] == "1"
    assert cells(html, "ist-tabelle", "Summe")[3] == "5"
    assert cells(html, "soll-tabelle", "Summe")[3] == "2"
    assert cells(html, "abweichung-tabelle", "gesamt")[3] == "150,0\u00a0%"  # (5 − 2) / 2
    assert cells(html, "abweichung-tabelle", "Eschweiler")[3] == "–"
    words = Page(html).words
    assert "das Ist aller Standorte, auch ohne Soll, gegenüber dem Soll der Standorte" in words
    assert "Ohne Soll 2026, mit Ist: Eschweiler." in words


def test_saving_the_soll_is_confirmed_in_a_status_message(login: Login) -> None:
    coordinator = login("koordination")
    before = Page(coordinator.get("/dashboard/eintrittsplanung").text)
    token = page_token(coordinator, "/dashboard/eintrittsplanung")
    answer = coordinator.post(
        "/dashboard/eintrittsplanung", data=soll_form(token, "Aachen", 3), follow_redirects=False
    )

    location = answer.headers["location"]
    assert parse_qs(urlsplit(location).query)["hinweis"] == ["soll-gespeichert"]
    assert location.endswith("#meldung")
    after = Page(coordinator.get(location).text)
    assert before.status == []
    assert after.status == [
        "Gespeichert: das Soll 2026 von Aachen für Schuldnerberatung. "
        "Die Tabellen unten zeigen den neuen Stand."
    ]


def test_the_confirmation_is_not_shown_to_a_caseworker(login: Login) -> None:
    page = login("ifk.aachen").get("/dashboard/eintrittsplanung?hinweis=soll-gespeichert")
    assert Page(page.text).status == []


# --- the link to the case's flow runs in Prefect ----------------------------------------------


def prefect_links(page: Page) -> list[str]:
    return [link for link in page.links if link.startswith(PREFECT_UI.rstrip("/"))]


@pytest.mark.parametrize("username", ["koordination", "admin"])
def test_coordinators_and_admins_get_the_runs_of_the_case_in_prefect(
    login: Login, username: str
) -> None:
    page = Page(login(username).get("/dashboard/faelle/AC-1").text)

    [link] = prefect_links(page)
    url = urlsplit(link)
    query = parse_qs(url.query)
    assert f"{url.scheme}://{url.netloc}{url.path}" == "http://prefect.example:4200/runs"
    assert query["tag"] == ["fall-AC-1"]  # the tag of tasks.prefect_view.tag_run_with_cases
    assert query["tab"] == ["task-runs"]  # the steps run as the task worker's task runs
    assert "tags" not in query  # the Prefect UI ignores it
    assert query["type"] == ["span"]
    since_start = (TODAY - STARTED + timedelta(days=1)).total_seconds()
    assert -int(query["seconds"][0]) >= since_start  # the whole life, not the last 7 days


@pytest.mark.parametrize("username", ["ifk.aachen", "traeger.caritas"])
def test_caseworkers_and_providers_get_no_prefect_link(login: Login, username: str) -> None:
    html = login(username).get("/dashboard/faelle/AC-1").text
    assert prefect_links(Page(html)) == []
    assert "Prefect" not in html and "prefect.example" not in html


class RecordingTrigger:
    """A `api.trigger.FlowTrigger` that records what it was asked to start."""

    def __init__(self) -> None:
        self.started: list[tuple[int, list[str]]] = []

    def start(self, command_id: int, references: list[str], name: str | None = None) -> str | None:
        self.started.append((command_id, references))
        return None


def test_the_follow_up_flow_is_started_with_the_tag_of_the_cases_aktenzeichen(
    kel: World,
) -> None:
    """`api.trigger.Deployment` tags the run with `models.urls.case_tag` of these."""
    trigger = RecordingTrigger()
    event = ReferralEvent(event="appointment_booked", appointment_on=date(2026, 3, 27))
    with write_session(kel.url) as s:
        user = s.exec(select(User).where(User.username == "koordination")).one()
        accepted = submit(
            s,
            Submission("event", "AC-2", TODAY, event),
            user=user,
            now=at(TODAY, 11),
            registry=kel.registry,
            settings=kel.settings,
            trigger=trigger,
        )
    assert trigger.started == [(accepted.command_id, ["AC-2"])]
    assert case_tag("AC-2") == "fall-AC-2"


# --- the history: reads in one line -------------------------------------------------------------


def history(html: str) -> list[list[str]]:
    body = html.split('id="verlauf"', 1)[1].split("</table>", 1)[0].split("<tbody>", 1)[1]
    return [
        [Page(c).words.strip() for c in re.findall(r"<td[^>]*>(.*?)</td>", row, re.S)]
        for row in re.findall(r"<tr>(.*?)</tr>", body, re.S)
    ]


def test_reads_collapse_into_one_line_of_the_history(login: Login) -> None:
    rows = history(login("koordination").get("/dashboard/faelle/AC-1").text)

    reads = [r for r in rows if "Lesezugriff" in r[1]]
    assert reads == [
        [
            "22.03.2026, 12:00 Uhr",
            "12 Lesezugriffe",  # 11 reads and one PDF download (two entries, one moment)
            "ifk.aachen (Integrationsfachkraft)",
            "Rückmeldungen oder Berichte gelesen; erster 11.03.2026, 11:00 Uhr, "
            "letzter 22.03.2026, 12:00 Uhr",
        ]
    ]
    titles = [r[1] for r in rows]
    assert "Inhalt der Rückmeldungen gelesen" not in titles and "Bericht abgerufen" not in titles
    moments = [datetime.strptime(r[0], "%d.%m.%Y, %H:%M Uhr") for r in rows]
    assert moments == sorted(moments)  # the line of reads stands at the last read


def test_a_case_without_reads_has_no_read_line(login: Login) -> None:
    rows = history(login("koordination").get("/dashboard/faelle/AC-2").text)
    assert rows and not [r for r in rows if "Lesezugriff" in r[1]]


# --- unique ids ------------------------------------------------------------------------------


def test_every_id_is_unique_on_every_page(login: Login) -> None:
    duplicates = {
        (username, path, id_): n
        for username, path, page in opened(login)
        for id_, n in Counter(page.ids).items()
        if n > 1
    }
    assert duplicates == {}


# --- the demo's simulated months and the dashboard's "Stand" -----------------------------------


@pytest.mark.parametrize(
    ("today", "months", "start"),
    [
        (date(2026, 11, 25), 12, date(2025, 11, 25)),
        (date(2026, 3, 31), 1, date(2026, 2, 28)),  # February is shorter
        (date(2026, 1, 1), 3, date(2025, 10, 1)),
    ],
)
def test_the_demo_simulates_the_months_up_to_yesterday(
    today: date, months: int, start: date
) -> None:
    assert demo_period(today, months) == (start, today)


def test_the_demo_runs_its_days_up_to_yesterday_by_default(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """`demo.run.run_demo` without a start: the simulated days end the day before `today`
    (the Prefect flow runs of the days are replaced by a recording fake here)."""
    for name in ("KEL_DATABASE_URL", "KEL_SMTP_URL", "KEL_COORDINATOR_EMAIL"):
        monkeypatch.setenv(name, "")  # run_demo sets them; restored after the test
    simulated: list[tuple[date, date]] = []

    def simulate(url: str, plan: object, start: date, end: date, *rest: object) -> dict[str, int]:
        simulated.append((start, end))
        return {}

    monkeypatch.setattr("demo.run._simulate", simulate)
    result = run_demo(tmp_path, months=2, scale=0.01, today=date(2026, 11, 25))

    assert simulated == [(date(2026, 9, 25), date(2026, 11, 25))]  # the end is exclusive
    assert "24.11.2026" in result.report_html.read_text(encoding="utf-8")


def test_the_demos_plan_ends_before_today_and_reaches_the_last_week() -> None:
    today = date(2026, 11, 25)
    start, end = demo_period(today, 12)
    plan = plan_year(load_registry(), start, 12, 0.05, 2026)
    last = max(p.day for p in plan.commands)
    assert end == today
    assert today - timedelta(days=7) <= last < today
