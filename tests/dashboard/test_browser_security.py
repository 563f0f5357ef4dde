"""Browser security of the dashboard (issue 7, point 1): escaped output, security headers,
cookie flags, CSRF tokens bound to the session, and a ``next`` that stays in the dashboard.

One Schuldnerberatung case AC-1 at a provider whose name is markup; its first feedback
carries a ``<script>`` and an ``<img onerror>`` in the report content (the provider sees its
own report). Users log in through the login form; the clock is fake.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Iterator
from datetime import date, timedelta
from pathlib import Path

import httpx
import pytest
from fastapi import FastAPI
from fastapi.routing import APIRoute, iter_route_contexts
from fastapi.testclient import TestClient
from sqlmodel import select

from api.dashboard.csrf import LOGIN_COOKIE, LOGIN_MINUTES, require_csrf, require_login_csrf
from api.dashboard.web import COOKIE, local_dashboard_path
from api.headers import STRICT
from api.main import create_app
from api.security import hash_password
from api.trigger import InProcess
from models.clock import FakeClock
from models.commands import FeedbackIn, ReportContent
from models.settings import Settings
from models.tables import IntakePlan, Provider, User
from tests.conftest import ModuleDb
from tests.dashboard.forms import form_token, page_token, sign_in
from tests.factories import World, at, provider, world

JWT_SECRET = "4f1c9a7e2b5d8f0a3c6e9b2d5f8a1c4e7b0d3f6a9c2e5b8d1f4a7c0e3b6d9f2a"
PASSWORD = "Sicherheit-2026!"
STARTED = date(2026, 3, 2)
SCRIPT = "<script>alert(1)</script>"
#: The one script of the dashboard: a file of this origin (CSP script-src 'self').
KEL_JS = '<script src="/static/kel.js" defer></script>'


def inline_scripts(html: str) -> int:
    """``<script`` tags other than the dashboard's own ``kel.js``."""
    return html.replace(KEL_JS, "").count("<script")


IMAGE = "<img src=x onerror=alert(2)>"
USERS = {
    "koordination": ("coordinator", None),
    "koordination.zwei": ("coordinator", None),
    "traeger.evil": ("provider", "SB-EVIL"),
}
TEMPLATES = Path(__file__).resolve().parents[2] / "api" / "dashboard" / "templates"

Login = Callable[..., TestClient]


@pytest.fixture(scope="module")
def template(module_db: ModuleDb) -> ModuleDb:
    """The case and the accounts, built once per backend; each test works on a copy."""
    w = world(module_db.url)
    w.add(provider("SB-EVIL", name=f"Träger {SCRIPT}"))
    w.start("AC-1", STARTED, provider_code="SB-EVIL")
    w.event(
        "AC-1",
        date(2026, 3, 5),
        "first_feedback",
        feedback=FeedbackIn(
            appointment_kept=True,
            content=ReportContent(ausgangssituation=SCRIPT, ziele=IMAGE),
        ),
    )
    hashed = hash_password(PASSWORD)
    with w.session() as s:
        codes = {p.code: p.id for p in s.exec(select(Provider))}
        for username, (role, code) in USERS.items():
            s.add(
                User(
                    username=username,
                    role=role,
                    provider_id=codes[code] if code else None,
                    password_hash=hashed,
                    created_at=at(STARTED),
                )
            )
    return module_db


@pytest.fixture
def kel(template: ModuleDb) -> Iterator[World]:
    with template.copy() as url:
        yield world(url)


@pytest.fixture
def clock() -> FakeClock:
    return FakeClock(at(date(2026, 3, 10), 10))


@pytest.fixture
def app(kel: World, clock: FakeClock) -> FastAPI:
    settings = Settings(database_url=kel.url, jwt_secret=JWT_SECRET)
    return create_app(settings, clock=clock, trigger=InProcess())


@pytest.fixture
def clients(app: FastAPI) -> Iterator[Callable[[], TestClient]]:
    """`new()`: another browser (its own cookies) on the same app."""
    opened: list[TestClient] = []

    def new() -> TestClient:
        client = TestClient(app, raise_server_exceptions=False)
        opened.append(client.__enter__())
        return client

    yield new
    for client in opened:
        client.__exit__(None, None, None)


@pytest.fixture
def login(clients: Callable[[], TestClient]) -> Login:
    """`login(username)`: a new browser, signed in through the login form."""

    def sign_in_as(username: str) -> TestClient:
        client = clients()
        answer = sign_in(client, username, PASSWORD)
        assert answer.status_code == 303, answer.text
        return client

    return sign_in_as


def soll_form(token: str | None) -> dict[str, str]:
    form = {"jahr": "2026", "leistungsart": "schulden", "standort": "Aachen", "soll_1": "7"}
    return form | ({"csrf_token": token} if token is not None else {})


def plans(kel: World) -> list[int]:
    with kel.session() as s:
        return [p.planned for p in s.exec(select(IntakePlan))]


# --- escaping ----------------------------------------------------------------------------------


def test_report_content_with_script_and_img_comes_back_escaped_on_the_case_page(
    login: Login,
) -> None:
    html = login("traeger.evil").get("/dashboard/faelle/AC-1").text
    assert "&lt;script&gt;alert(1)&lt;/script&gt;" in html  # the provider's own report
    assert "&lt;img src=x onerror=alert(2)&gt;" in html
    assert inline_scripts(html) == 0
    assert "<img" not in html


def test_a_provider_name_with_markup_is_escaped_for_the_coordinator(login: Login) -> None:
    html = login("koordination").get("/dashboard/faelle/AC-1").text
    assert "Träger &lt;script&gt;alert(1)&lt;/script&gt;" in html
    assert inline_scripts(html) == 0


def test_the_login_page_reflects_next_escaped_or_not_at_all(
    clients: Callable[[], TestClient],
) -> None:
    browser = clients()
    hostile = browser.get("/dashboard/anmelden", params={"next": f'/dashboard/">{SCRIPT}'}).text
    assert inline_scripts(hostile) == 0
    assert '<input type="hidden" name="next" value="/dashboard">' in hostile
    query = "/dashboard/kennzahlen?von=2026-01-01&bis=2026-03-31"
    kept = browser.get("/dashboard/anmelden", params={"next": query}).text
    assert 'value="/dashboard/kennzahlen?von=2026-01-01&amp;bis=2026-03-31"' in kept


def test_dashboard_templates_hold_no_inline_script_or_style_the_csp_would_block() -> None:
    inline = re.compile(r"<script|<style|\sstyle\s*=|\son[a-z]+\s*=|javascript:", re.IGNORECASE)
    found = {
        path.name: inline.findall(path.read_text(encoding="utf-8").replace(KEL_JS, ""))
        for path in TEMPLATES.glob("*.j2")
    }
    assert {name: hits for name, hits in found.items() if hits} == {}


# --- security headers --------------------------------------------------------------------------


def assert_security_headers(answer: httpx.Response, *, cached: bool = False) -> None:
    assert answer.headers["content-security-policy"] == STRICT
    assert "script-src 'self';" in STRICT and "frame-ancestors 'none'" in STRICT
    assert answer.headers["x-frame-options"] == "DENY"
    assert answer.headers["x-content-type-options"] == "nosniff"
    assert answer.headers["referrer-policy"] == "same-origin"
    if not cached:
        assert answer.headers["cache-control"] == "no-store"


def test_every_kind_of_answer_carries_the_security_headers(login: Login, app: FastAPI) -> None:
    @app.get("/api/v1/kaputt")
    def broken() -> None:
        raise RuntimeError("boom")

    client = login("koordination")
    page = client.get("/dashboard/faelle/AC-1")
    assert page.status_code == 200
    assert_security_headers(page)
    assert_security_headers(client.get("/dashboard/anmelden"))
    assert_security_headers(client.get("/dashboard/kennzahlen?format=csv"))
    health = client.get("/api/v1/health")
    assert health.status_code == 200
    assert_security_headers(health)
    anonymous = client.get("/api/v1/referrals/AC-1", headers={"Authorization": "Bearer x"})
    assert anonymous.status_code == 401
    assert anonymous.headers["content-type"] == "application/problem+json"
    assert_security_headers(anonymous)
    missing = client.get("/api/v1/gibt-es-nicht")
    assert missing.status_code == 404
    assert missing.headers["content-type"] == "application/problem+json"
    assert_security_headers(missing)
    failed = client.get("/api/v1/kaputt")
    assert failed.status_code == 500
    assert_security_headers(failed)


def test_static_assets_may_be_cached_and_only_the_api_docs_load_scripts_from_a_cdn(
    clients: Callable[[], TestClient],
) -> None:
    browser = clients()
    css = browser.get("/static/kel.css")
    assert css.status_code == 200
    assert_security_headers(css, cached=True)
    assert "no-store" not in css.headers.get("cache-control", "")
    docs = browser.get("/docs")
    policy = docs.headers["content-security-policy"]
    assert "https://cdn.jsdelivr.net" in policy
    assert "frame-ancestors 'none'" in policy
    assert docs.headers["cache-control"] == "no-store"


# --- cookies -----------------------------------------------------------------------------------


def set_cookie(answer: httpx.Response, name: str) -> str:
    found = [v for v in answer.headers.get_list("set-cookie") if v.startswith(f"{name}=")]
    assert len(found) == 1, answer.headers.get_list("set-cookie")
    return found[0].lower()


def test_cookies_are_httponly_samesite_strict_and_secure_only_when_configured(
    kel: World, clock: FakeClock
) -> None:
    for secure in (False, True):
        settings = Settings(database_url=kel.url, jwt_secret=JWT_SECRET, cookie_secure=secure)
        app = create_app(settings, clock=clock, trigger=InProcess())
        base = "https://kel.example" if secure else "http://testserver"
        with TestClient(app, base_url=base) as browser:
            form = browser.get("/dashboard/anmelden")
            answer = sign_in(browser, "koordination", PASSWORD)
        assert answer.status_code == 303
        for cookie in (set_cookie(form, LOGIN_COOKIE), set_cookie(answer, COOKIE)):
            assert "httponly" in cookie
            assert "samesite=strict" in cookie
            assert ("; secure" in cookie) is secure
        assert "path=/dashboard/anmelden" in set_cookie(form, LOGIN_COOKIE)
        assert set_cookie(answer, LOGIN_COOKIE).startswith(f'{LOGIN_COOKIE}=""')  # dropped


def test_the_settings_read_cookie_secure_from_the_environment(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setenv("KEL_COOKIE_SECURE", "true")
    assert Settings(jwt_secret=JWT_SECRET).cookie_secure is True
    assert Settings.model_fields["cookie_secure"].description


# --- CSRF --------------------------------------------------------------------------------------


def test_every_dashboard_form_handler_checks_a_csrf_token(app: FastAPI) -> None:
    posts = {
        str(context.path): {d.dependency for d in context.original_route.dependencies}
        for context in iter_route_contexts(app.routes)
        if isinstance(context.original_route, APIRoute)
        and str(context.path).startswith("/dashboard")
        and context.original_route.methods & {"POST", "PUT", "PATCH", "DELETE"}
    }
    assert "/dashboard/anmelden" in posts and "/dashboard/eintrittsplanung" in posts
    assert posts.pop("/dashboard/anmelden") >= {require_login_csrf}
    assert {path: require_csrf in checks for path, checks in posts.items()} == dict.fromkeys(
        posts, True
    )


def test_a_form_without_a_token_or_with_a_forged_one_is_refused(login: Login, kel: World) -> None:
    client = login("koordination")
    token = page_token(client, "/dashboard/eintrittsplanung")
    for bad in (None, "", "x" * 40, token[:-2] + ("AA" if not token.endswith("AA") else "BB")):
        answer = client.post("/dashboard/eintrittsplanung", data=soll_form(bad))
        assert answer.status_code == 403
        assert "Formular abgelaufen" in answer.text
        assert "es wurde nichts gespeichert" in answer.text
    assert plans(kel) == []


def test_a_token_from_another_session_is_refused(login: Login, kel: World) -> None:
    first, second = login("koordination"), login("koordination.zwei")
    foreign = page_token(second, "/dashboard/eintrittsplanung")
    answer = first.post("/dashboard/eintrittsplanung", data=soll_form(foreign))
    assert answer.status_code == 403
    assert plans(kel) == []


def test_the_token_of_the_page_saves_the_form(login: Login, kel: World) -> None:
    client = login("koordination")
    token = page_token(client, "/dashboard/eintrittsplanung")
    answer = client.post(
        "/dashboard/eintrittsplanung", data=soll_form(token), follow_redirects=False
    )
    assert answer.status_code == 303
    assert sorted(plans(kel)) == [0] * 11 + [7]


def test_logout_needs_the_token_of_the_session(login: Login) -> None:
    client = login("koordination")
    refused = client.post("/dashboard/abmelden", data={}, follow_redirects=False)
    assert refused.status_code == 403
    assert client.get("/dashboard/", follow_redirects=False).status_code == 200
    token = page_token(client)
    answer = client.post("/dashboard/abmelden", data={"csrf_token": token}, follow_redirects=False)
    assert answer.status_code == 303
    assert set_cookie(answer, COOKIE).startswith(f'{COOKIE}=""')


def test_a_login_without_the_forms_token_is_refused_with_a_fresh_form(
    clients: Callable[[], TestClient],
) -> None:
    browser = clients()
    data = {"username": "koordination", "password": PASSWORD, "next": "/dashboard/faelle/AC-1"}
    refused = browser.post("/dashboard/anmelden", data=data, follow_redirects=False)
    assert refused.status_code == 403
    assert "Das Anmeldeformular ist abgelaufen" in refused.text
    assert '<input type="hidden" name="next" value="/dashboard/faelle/AC-1">' in refused.text
    assert COOKIE not in refused.cookies
    retry = browser.post(
        "/dashboard/anmelden",
        data=data | {"csrf_token": form_token(refused.text)},
        follow_redirects=False,
    )
    assert retry.status_code == 303
    assert retry.headers["location"] == "/dashboard/faelle/AC-1"
    assert COOKIE in retry.cookies


def test_a_login_token_of_another_browser_or_an_old_form_is_refused(
    clients: Callable[[], TestClient], clock: FakeClock
) -> None:
    attacker, victim = clients(), clients()
    token = page_token(attacker, "/dashboard/anmelden")
    victim.get("/dashboard/anmelden")  # the victim has a login cookie of its own
    data = {"username": "koordination", "password": PASSWORD}
    foreign = victim.post("/dashboard/anmelden", data=data | {"csrf_token": token})
    assert foreign.status_code == 403
    old = page_token(victim, "/dashboard/anmelden")
    clock.advance(timedelta(minutes=LOGIN_MINUTES, seconds=1))
    expired = victim.post("/dashboard/anmelden", data=data | {"csrf_token": old})
    assert expired.status_code == 403


# --- next --------------------------------------------------------------------------------------

HOSTILE_NEXT = [
    "https://evil.example",
    "//evil.example",
    "/\\evil.example",
    "javascript:alert(1)",
    "/dashboard/../api/v1/referrals",
    "/dashboard/%2e%2e/api",
    "/dashboard%2f..%2fapi",
    "/dashboard//evil.example",
    "/dashboardevil",
    "/dashboard/\r\nSet-Cookie: x=1",
    "/dashboard/#fragment",
    "",
]


@pytest.mark.parametrize("target", HOSTILE_NEXT)
def test_next_outside_the_dashboard_falls_back_to_the_overview(target: str) -> None:
    assert local_dashboard_path(target) == "/dashboard"


@pytest.mark.parametrize(
    "target", ["/dashboard", "/dashboard/", "/dashboard/faelle/AC-1", "/dashboard/x?a=1&b=%C3%A4"]
)
def test_next_inside_the_dashboard_is_kept(target: str) -> None:
    assert local_dashboard_path(target) == target


@pytest.mark.parametrize(
    "target", ["https://evil.example", "//evil.example", "/\\evil", "javascript:alert(1)"]
)
def test_the_login_redirects_only_into_the_dashboard(
    clients: Callable[[], TestClient], target: str
) -> None:
    answer = sign_in(clients(), "koordination", PASSWORD, next=target)
    assert answer.status_code == 303
    assert answer.headers["location"] == "/dashboard"


def test_the_login_redirects_to_the_page_that_asked_for_it(
    clients: Callable[[], TestClient],
) -> None:
    browser = clients()
    asked = browser.get("/dashboard/faelle/AC-1", follow_redirects=False)
    assert asked.headers["location"] == "/dashboard/anmelden?next=/dashboard/faelle/AC-1"
    answer = sign_in(browser, "koordination", PASSWORD, next="/dashboard/faelle/AC-1")
    assert answer.headers["location"] == "/dashboard/faelle/AC-1"


def test_after_a_wrong_password_the_form_shown_again_can_be_sent(
    clients: Callable[[], TestClient],
) -> None:
    browser = clients()
    wrong = sign_in(browser, "koordination", "falsch-falsch-falsch")
    assert wrong.status_code == 401
    retry = browser.post(
        "/dashboard/anmelden",
        data={
            "username": "koordination",
            "password": PASSWORD,
            "csrf_token": form_token(wrong.text),
        },
        follow_redirects=False,
    )
    assert retry.status_code == 303
