"""Sessions and login (issue 7, point 2): revocable sessions, limited login attempts, the
same answer and time for unknown accounts, audited logins, a required signing key.

Time: the app's clock is a `FakeClock`. The login limits are counted by `limits`, whose
``MemoryStorage`` reads ``time.time()`` itself; where a test moves time past the window it
replaces ``time`` in ``limits.storage.memory`` by the fake clock (`fake_limits_time`) and
gives the `LoginThrottle` the same timer. Nothing sleeps.
"""

from __future__ import annotations

import logging
import os
import secrets
import stat
import statistics
import time
from collections.abc import Callable, Iterator
from datetime import timedelta
from pathlib import Path
from types import SimpleNamespace
from typing import Any

import httpx
import jwt
import limits.storage.memory
import pytest
from fastapi import FastAPI
from fastapi.testclient import TestClient
from pydantic import ValidationError
from sqlmodel import select
from typer.testing import CliRunner

import api.main
from api import security
from api.dashboard.web import COOKIE
from api.login import LoginThrottle
from api.main import create_app
from api.security import MissingSecret
from api.trigger import InProcess
from cli.main import app as kel_cli
from cli.serve import SecretFileError, Stack, ensure_secret
from models.clock import FakeClock
from models.settings import Settings
from models.tables import AuditEvent, User, UserSession
from tests.api.conftest import JWT_SECRET, PASSWORD, login
from tests.dashboard.forms import page_token, sign_in
from tests.factories import World

WINDOW = timedelta(minutes=15)


def bearer(app: FastAPI, token: str) -> httpx.Response:
    with TestClient(app) as client:
        return client.get("/api/v1/referrals", headers={"Authorization": f"Bearer {token}"})


def token_of(app: FastAPI, username: str, password: str = PASSWORD) -> str:
    answer = login(app, username, password)
    assert answer.status_code == 200, answer.text
    return str(answer.json()["access_token"])


def audit_rows(kel: World) -> list[AuditEvent]:
    with kel.session() as s:
        return list(s.exec(select(AuditEvent).order_by(AuditEvent.id)))  # type: ignore[arg-type]


@pytest.fixture
def limited_app(app: FastAPI, settings: Settings, clock: FakeClock) -> Callable[..., FastAPI]:
    """`limited_app(per_account=…, per_address=…)`: the conftest's world and accounts
    (made by the `app` fixture) served with other login limits."""

    def make(per_account: int = 5, per_address: int = 20, **throttle: Any) -> FastAPI:
        changed = settings.model_copy(
            update={
                "login_failures_per_account": per_account,
                "login_failures_per_address": per_address,
            }
        )
        return create_app(
            changed,
            clock=clock,
            trigger=InProcess(),
            login_throttle=LoginThrottle.from_settings(changed, **throttle),
        )

    return make


@pytest.fixture
def fake_limits_time(monkeypatch: pytest.MonkeyPatch, clock: FakeClock) -> Callable[[], float]:
    """`limits`' memory storage reads the fake clock; returns the timer for the throttle."""

    def now() -> float:
        return clock.now().timestamp()

    monkeypatch.setattr(limits.storage.memory, "time", SimpleNamespace(time=now))
    return now


# --- sessions ---------------------------------------------------------------------------


def test_a_token_names_a_stored_session_by_a_random_jti(app: FastAPI, kel: World) -> None:
    first, second = token_of(app, "ifk.aachen"), token_of(app, "ifk.aachen")

    claims = [jwt.decode(t, options={"verify_signature": False}) for t in (first, second)]
    with kel.session() as s:
        stored = {row.jti: row.username for row in s.exec(select(UserSession))}
    assert claims[0]["jti"] != claims[1]["jti"]
    assert len(claims[0]["jti"]) >= 20
    assert stored == {c["jti"]: "ifk.aachen" for c in claims}


def test_logout_ends_the_bearer_token_and_only_that_one(app: FastAPI, kel: World) -> None:
    ended, other = token_of(app, "ifk.aachen"), token_of(app, "ifk.aachen")
    assert bearer(app, ended).status_code == 200

    with TestClient(app) as client:
        out = client.post("/api/v1/auth/logout", headers={"Authorization": f"Bearer {ended}"})
        again = client.post("/api/v1/auth/logout", headers={"Authorization": f"Bearer {ended}"})

    assert out.status_code == 204
    assert again.status_code == 401
    assert bearer(app, ended).status_code == 401
    assert bearer(app, other).status_code == 200
    assert [r.action for r in audit_rows(kel)][-1] == "logout"


def test_a_dashboard_logout_ends_the_cookie_and_the_same_token_as_bearer(app: FastAPI) -> None:
    with TestClient(app) as browser:
        signed_in = sign_in(browser, "koordination", PASSWORD)
        assert signed_in.status_code == 303, signed_in.text
        cookie = signed_in.cookies[COOKIE]
        assert browser.get("/dashboard/", follow_redirects=False).status_code == 200
        assert bearer(app, cookie).status_code == 200

        logout = browser.post(
            "/dashboard/abmelden", data={"csrf_token": page_token(browser)}, follow_redirects=False
        )
        assert logout.status_code == 303
        browser.cookies.set(COOKIE, cookie)  # a copy kept by an attacker
        after = browser.get("/dashboard/", follow_redirects=False)

    assert after.status_code in (302, 303, 307)
    assert after.headers["location"].startswith("/dashboard/anmelden")
    assert bearer(app, cookie).status_code == 401


@pytest.mark.parametrize(
    "claims",
    [
        pytest.param({"sub": "admin", "jti": "nie-ausgegeben-1234567"}, id="unknown jti"),
        pytest.param({"sub": "admin"}, id="no jti"),
    ],
)
def test_a_well_signed_token_without_a_stored_session_answers_401(
    app: FastAPI, clock: FakeClock, claims: dict[str, Any]
) -> None:
    expires = clock.now() + timedelta(hours=1)
    token = jwt.encode({**claims, "exp": expires}, JWT_SECRET, algorithm="HS256")

    assert bearer(app, token).status_code == 401
    with TestClient(app, cookies={COOKIE: token}) as browser:
        page = browser.get("/dashboard/", follow_redirects=False)
    assert page.headers["location"].startswith("/dashboard/anmelden")


def test_a_session_of_one_user_does_not_open_another_account(
    app: FastAPI, kel: World, clock: FakeClock
) -> None:
    token = token_of(app, "traeger.caritas")
    jti = jwt.decode(token, options={"verify_signature": False})["jti"]
    forged = jwt.encode(
        {"sub": "admin", "jti": jti, "exp": clock.now() + timedelta(hours=1)},
        JWT_SECRET,
        algorithm="HS256",
    )

    assert bearer(app, forged).status_code == 401


def test_an_admin_lists_and_revokes_every_session_of_an_account(
    app: FastAPI, kel: World, client_for: Callable[[str], TestClient]
) -> None:
    tokens = [token_of(app, "ifk.aachen"), token_of(app, "ifk.aachen")]
    untouched = token_of(app, "ifk.eschweiler")
    admin = client_for("admin")

    listed = admin.get("/api/v1/auth/sessions", params={"username": "ifk.aachen"})
    revoked = admin.post("/api/v1/auth/sessions/ifk.aachen/revoke")

    assert [row["username"] for row in listed.json()] == ["ifk.aachen", "ifk.aachen"]
    assert "jti" not in listed.json()[0]
    assert revoked.json() == {"username": "ifk.aachen", "revoked": 2}
    assert [bearer(app, t).status_code for t in tokens] == [401, 401]
    assert bearer(app, untouched).status_code == 200
    entry = audit_rows(kel)[-1]
    assert (entry.actor, entry.action, entry.detail["account"]) == (
        "admin",
        "sessions_revoked",
        "ifk.aachen",
    )


def test_only_an_admin_may_revoke_sessions_and_an_unknown_account_answers_404(
    client_for: Callable[[str], TestClient],
) -> None:
    denied = client_for("koordination").post("/api/v1/auth/sessions/ifk.aachen/revoke")
    listing = client_for("koordination").get("/api/v1/auth/sessions")
    unknown = client_for("admin").post("/api/v1/auth/sessions/niemand/revoke")

    assert (denied.status_code, listing.status_code, unknown.status_code) == (403, 403, 404)


def test_kel_user_revoke_sessions_ends_the_logins_of_the_account(
    app: FastAPI, kel: World, monkeypatch: pytest.MonkeyPatch
) -> None:
    token = token_of(app, "ifk.aachen")
    monkeypatch.setenv("KEL_DATABASE_URL", kel.url)

    result = CliRunner().invoke(kel_cli, ["user", "revoke-sessions", "ifk.aachen"])

    assert result.exit_code == 0, result.output
    assert "1 Sitzung" in result.output
    assert bearer(app, token).status_code == 401
    assert audit_rows(kel)[-1].action == "sessions_revoked"


def test_a_deactivated_account_cannot_use_its_open_session(app: FastAPI, kel: World) -> None:
    token = token_of(app, "koordination")
    with kel.session() as s:
        s.exec(select(User).where(User.username == "koordination")).one().active = False

    assert bearer(app, token).status_code == 401


def test_a_session_ends_when_its_time_is_up(
    app: FastAPI, clock: FakeClock, settings: Settings
) -> None:
    token = token_of(app, "koordination")

    clock.advance(timedelta(minutes=settings.token_minutes))

    assert bearer(app, token).status_code == 401


# --- login limits -----------------------------------------------------------------------


def test_after_five_failures_the_account_answers_429_with_retry_after_even_to_the_right_password(
    app: FastAPI,
) -> None:
    failures = [login(app, "ifk.aachen", "falsch-falsch").status_code for _ in range(5)]

    blocked = login(app, "ifk.aachen", PASSWORD)

    assert failures == [401] * 5
    assert blocked.status_code == 429
    assert blocked.headers["content-type"] == "application/problem+json"
    assert 0 < int(blocked.headers["retry-after"]) <= WINDOW.total_seconds()
    assert blocked.json()["detail"].startswith("Zu viele fehlgeschlagene Anmeldeversuche")
    assert "access_token" not in blocked.json()
    assert login(app, "ifk.eschweiler").status_code == 200  # another account: open


def test_an_unknown_account_is_limited_with_the_same_answer(
    limited_app: Callable[..., FastAPI],
) -> None:
    app = limited_app(per_account=2)
    for name in ("ifk.aachen", "niemand"):
        for _ in range(2):
            assert login(app, name, "falsch-falsch").status_code == 401
    known, unknown = login(app, "ifk.aachen", "x"), login(app, "niemand", "x")

    assert (known.status_code, unknown.status_code) == (429, 429)
    assert known.json() == unknown.json()
    assert int(known.headers["retry-after"]) > 0 and int(unknown.headers["retry-after"]) > 0


def test_failures_from_one_address_are_limited_across_account_names(
    limited_app: Callable[..., FastAPI],
) -> None:
    app = limited_app(per_account=5, per_address=3)
    for name in ("a1", "a2", "a3"):
        assert login(app, name, "falsch-falsch").status_code == 401

    assert login(app, "koordination").status_code == 429  # same client address


def test_successful_logins_do_not_count_as_failures(limited_app: Callable[..., FastAPI]) -> None:
    app = limited_app(per_account=2)
    assert login(app, "admin", "falsch-falsch").status_code == 401

    answers = [login(app, "admin").status_code for _ in range(3)]

    assert answers == [200, 200, 200]


def test_the_limit_moves_with_time_and_retry_after_counts_down(
    limited_app: Callable[..., FastAPI],
    clock: FakeClock,
    fake_limits_time: Callable[[], float],
) -> None:
    app = limited_app(per_account=2, timer=fake_limits_time)
    assert login(app, "admin", "falsch-falsch").status_code == 401
    clock.advance(timedelta(minutes=5))
    assert login(app, "admin", "falsch-falsch").status_code == 401

    clock.advance(timedelta(minutes=4))
    first = login(app, "admin")  # 9 min after the first failure: 6 min to wait
    clock.advance(timedelta(minutes=6, seconds=1))
    second = login(app, "admin")  # the first failure has left the window

    assert first.status_code == 429
    assert int(first.headers["retry-after"]) == 6 * 60
    assert "6 Minuten" in first.json()["detail"]
    assert second.status_code == 200


def test_the_dashboard_form_is_limited_too_and_says_so_in_german(
    limited_app: Callable[..., FastAPI],
) -> None:
    app = limited_app(per_account=1)
    with TestClient(app) as browser:
        wrong = sign_in(browser, "koordination", "falsch-falsch")
        blocked = sign_in(browser, "koordination", PASSWORD)

    assert wrong.status_code == 401
    assert blocked.status_code == 429
    assert int(blocked.headers["retry-after"]) > 0
    assert "Zu viele fehlgeschlagene Anmeldeversuche" in blocked.text
    assert COOKIE not in blocked.cookies


def test_the_limits_storage_is_a_setting(settings: Settings) -> None:
    throttle = LoginThrottle.from_settings(settings)

    assert isinstance(throttle.limiter.storage, limits.storage.MemoryStorage)
    with pytest.raises(ValueError, match="KEL_RATELIMIT_STORAGE_URL"):
        LoginThrottle.from_settings(
            settings.model_copy(update={"ratelimit_storage_url": "async+memory://"})
        )


# --- same answer, same time -------------------------------------------------------------


def test_unknown_and_known_accounts_get_the_same_answer_in_about_the_same_time(
    limited_app: Callable[..., FastAPI],
) -> None:
    """Behaviour, not speed: without the dummy hash the unknown path took 3 ms against
    110 ms. Median of 5 runs each, interleaved."""
    app = limited_app(per_account=100, per_address=100)
    runs: dict[str, list[float]] = {"ifk.aachen": [], "niemand": []}
    answers: dict[str, httpx.Response] = {}
    with TestClient(app) as client:
        for _ in range(5):
            for name, seconds in runs.items():
                started = time.perf_counter()
                answers[name] = client.post(
                    "/api/v1/auth/token", data={"username": name, "password": "falsch-falsch"}
                )
                seconds.append(time.perf_counter() - started)

    assert answers["ifk.aachen"].json() == answers["niemand"].json()
    ratio = statistics.median(runs["niemand"]) / statistics.median(runs["ifk.aachen"])
    assert 0.5 < ratio < 2.0, runs


# --- audit ------------------------------------------------------------------------------


def test_logins_are_audited_and_an_unknown_name_is_never_stored(app: FastAPI, kel: World) -> None:
    login(app, "ifk.aachen")
    login(app, "ifk.aachen", "falsch-falsch")
    login(app, "Erika Mustermann 1970", "falsch-falsch")

    rows = audit_rows(kel)
    assert [(r.actor, r.role, r.action) for r in rows] == [
        ("ifk.aachen", "caseworker", "login"),
        ("ifk.aachen", "caseworker", "login_failed"),
        ("anonymous", "anonymous", "login_failed_unknown_user"),
    ]
    assert rows[0].detail == {"channel": "api"}
    assert "Mustermann" not in repr([(r.actor, r.detail) for r in rows])


def test_kel_user_add_refuses_a_weak_password_and_audits_the_new_account(
    kel: World, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("KEL_DATABASE_URL", kel.url)
    runner = CliRunner()
    command = ["user", "add", "koordination.neu", "--role", "coordinator", "--password-stdin"]

    weak = runner.invoke(kel_cli, command, input="Passwort1234\n")
    strong = runner.invoke(kel_cli, command, input="Tonne Lampe Wiesel Kompass\n")

    assert weak.exit_code != 0
    assert "zu leicht zu erraten" in weak.output
    assert strong.exit_code == 0, strong.output
    entry = audit_rows(kel)[-1]
    assert entry.action == "user_created"
    assert entry.actor.startswith("cli:")
    assert entry.detail == {"account": "koordination.neu", "account_role": "coordinator"}


# --- the signing key --------------------------------------------------------------------


def test_without_a_signing_key_the_api_refuses_to_start(db_url: str) -> None:
    with pytest.raises(MissingSecret, match="KEL_JWT_SECRET fehlt"):
        create_app(Settings(database_url=db_url), trigger=InProcess())


def test_in_dev_mode_the_api_starts_with_a_random_key_and_warns(
    app: FastAPI, kel: World, caplog: pytest.LogCaptureFixture
) -> None:
    security._process_secret.cache_clear()
    settings = Settings(database_url=kel.url, dev_mode=True)

    with caplog.at_level(logging.WARNING, logger="api.security"):
        dev = create_app(settings, trigger=InProcess())

    assert "KEL_DEV_MODE" in caplog.text
    assert security.signing_key(settings) != JWT_SECRET
    assert bearer(dev, token_of(dev, "admin")).status_code == 200
    security._process_secret.cache_clear()


def test_importing_the_app_module_builds_nothing_and_app_is_built_on_access(
    monkeypatch: pytest.MonkeyPatch, kel: World
) -> None:
    for name in ("KEL_JWT_SECRET", "KEL_DEV_MODE"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("KEL_DATABASE_URL", kel.url)
    api.main._app_from_environment.cache_clear()
    try:
        with pytest.raises(MissingSecret):
            _ = api.main.app
        monkeypatch.setenv("KEL_JWT_SECRET", secrets.token_hex(32))
        assert isinstance(api.main.app, FastAPI)
    finally:
        api.main._app_from_environment.cache_clear()


@pytest.mark.parametrize(
    ("secret", "reason"),
    [
        pytest.param("a" * 32, "verschiedene Zeichen", id="32 times a"),
        pytest.param("kurz-aber-zufällig-7Qx", "kürzer als 32 Bytes", id="short"),
        pytest.param("abcdefghij" + "a" * 40, "Entropie", id="low entropy"),
        pytest.param("changeme", "Platzhalter", id="placeholder"),
    ],
)
def test_a_short_or_low_entropy_signing_key_is_refused(secret: str, reason: str) -> None:
    with pytest.raises(ValidationError, match=reason):
        Settings(jwt_secret=secret)


def test_a_key_like_openssl_rand_hex_32_is_accepted() -> None:
    secret = secrets.token_hex(32)

    settings = Settings(jwt_secret=secret)

    assert settings.jwt_secret is not None
    assert settings.jwt_secret.get_secret_value() == secret


# --- kel serve: the generated key ---------------------------------------------------------


@pytest.fixture
def no_env_secret(monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    monkeypatch.delenv("KEL_JWT_SECRET", raising=False)
    yield


def test_serve_generates_a_key_once_into_a_file_only_its_owner_can_read(
    tmp_path: Path, no_env_secret: None
) -> None:
    path = tmp_path / ".kel-secret"

    first = ensure_secret(path)
    again = ensure_secret(path)

    assert first == again
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    assert Settings(jwt_secret=first).jwt_secret is not None
    stack = Stack("sqlite://", tmp_path / "prefect", secret_file=path)
    assert stack.api_env["KEL_JWT_SECRET"] == first
    assert stack.env.get("KEL_JWT_SECRET") != first  # Prefect server and worker: no key


def test_a_key_given_in_the_environment_wins_over_the_file(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    given = secrets.token_hex(32)
    monkeypatch.setenv("KEL_JWT_SECRET", given)

    stack = Stack("sqlite://", tmp_path / "prefect", secret_file=tmp_path / ".kel-secret")

    assert stack.api_env["KEL_JWT_SECRET"] == given
    assert not (tmp_path / ".kel-secret").exists()


def test_a_key_file_readable_by_others_is_refused(tmp_path: Path) -> None:
    path = tmp_path / ".kel-secret"
    path.write_text(secrets.token_hex(32))
    os.chmod(path, 0o644)

    with pytest.raises(SecretFileError, match="chmod 600"):
        ensure_secret(path)
