"""One case in the UI of a real Prefect server (issue 10, point 2): the API's follow-ups
(task runs of the task worker, `flows.commands.carry_out`) and a deadline sweep (a flow
run of a process worker), named for their step and tagged ``fall-<Aktenzeichen>``; the
case's card on the Artifacts page; nothing identifying the person anywhere. The UI pages
are opened in Debian's Chromium and saved as ``out/screenshots/prefect-fall.png`` (the
README's picture, ``docs/prefect-fall.png``)."""

from __future__ import annotations

import subprocess
import uuid
from collections.abc import Iterator
from datetime import UTC, date, datetime, timedelta
from pathlib import Path
from typing import Any

import httpx
import pytest

from api.security import hash_password
from cli.serve import Stack, wait_until
from models.clock import local_date
from models.db import migrate, session
from models.german import datum
from models.tables import Provider, User
from models.urls import case_artifact_key, case_tag, prefect_runs_url
from notifications import SmtpSink, smtp_url
from tests.browser.conftest import CHROMIUM, SCREENSHOTS

pytestmark = pytest.mark.e2e
PASSWORD = "e2e-geheim-passwort"
REF = "Z-2026-0001"
WIDTH, HEIGHT = 1280, 1180  # one screenshot: the run list shows the four runs
CUSTOMER = "K-GEHEIM-4711"
EMAIL = "erika.geheim@privat.example"


@pytest.fixture(scope="module")
def stack(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Stack]:
    root = tmp_path_factory.mktemp("prefect-fall")
    url = f"sqlite:///{root / 'kel.db'}"
    migrate(url)
    now = datetime.now(UTC)
    with session(url) as s:
        s.add(Provider(code="SB", name="Schuldnerberatung Nord", email="sb@traeger.example",
                       service_types=["schulden"], sites=[]))  # fmt: skip
    with session(url) as s:
        for name, role, extra in (
            ("ifk", "caseworker", {"site": "Aachen"}),
            ("traeger", "provider", {"provider_id": 1}),
        ):
            s.add(User(username=name, role=role, password_hash=hash_password(PASSWORD),
                       created_at=now, **extra))  # fmt: skip
    with SmtpSink(root / "mail") as sink:
        env = {
            "KEL_SMTP_URL": smtp_url(sink.host, sink.port, "kel@jobcenter.example"),
            "KEL_JWT_SECRET": uuid.uuid4().hex + uuid.uuid4().hex,
            "PREFECT_WORKER_QUERY_SECONDS": "1",
        }
        with Stack(url, root / "prefect", extra_env=env, log_dir=root) as running:
            yield running


def client(stack: Stack, username: str) -> httpx.Client:
    token = httpx.post(
        f"{stack.api_url}/api/v1/auth/token", data={"username": username, "password": PASSWORD}
    ).json()
    return httpx.Client(
        base_url=f"{stack.api_url}/api/v1",
        timeout=30,
        headers={"Authorization": f"Bearer {token['access_token']}"},
    )


def post(c: httpx.Client, path: str, body: dict[str, Any]) -> None:
    response = c.post(path, json=body, headers={"Idempotency-Key": uuid.uuid4().hex})
    assert response.status_code in (201, 202), response.text


def prefect(stack: Stack, path: str, body: dict[str, Any]) -> Any:
    response = httpx.post(f"{stack.prefect_api}{path}", json=body, timeout=30)
    response.raise_for_status()
    return response.json()


def case_runs(stack: Stack, kind: str = "flow_runs") -> list[dict[str, Any]]:
    """The case's flow runs (``flow_runs``: sweeps) or task runs (``task_runs``: steps)."""
    body = {kind: {"tags": {"all_": [case_tag(REF)]}}, "sort": "EXPECTED_START_TIME_ASC"}
    return list(prefect(stack, f"/{kind}/filter", body))


def steps(stack: Stack) -> list[dict[str, Any]]:
    """The follow-up task runs of the case, oldest first (not the sweep's own tasks)."""
    return [r for r in case_runs(stack, "task_runs") if r["flow_run_id"] is None]


def finished(runs: list[dict[str, Any]], count: int) -> bool:
    done = [r for r in runs if r["state_type"] in ("COMPLETED", "FAILED", "CRASHED")]
    return len(done) >= count


def test_a_case_reads_as_its_lifecycle_in_the_prefect_ui(stack: Stack) -> None:
    today = local_date(datetime.now(UTC))
    started = today - timedelta(days=30)
    ifk, traeger = client(stack, "ifk"), client(stack, "traeger")
    post(ifk, "/referrals", referral(started))
    # one step after the other, as people work: commands a moment apart share one run
    # ("Folgen von 2 Befehlen", api.trigger.Background), which is tested elsewhere
    wait_until(lambda: finished(steps(stack), 1), 240, "der erste Schritt des Falls")
    for n, (on, event) in enumerate(
        (
            (started + timedelta(days=2), {"event": "appointment_booked",
                                           "appointment_on": str(started + timedelta(days=5))}),
            (started + timedelta(days=5), {"event": "appointment_kept"}),
        ),
        start=2,
    ):  # fmt: skip
        post(traeger, f"/referrals/{REF}/events", {**event, "occurred_on": str(on)})
        wait_until(lambda n=n: finished(steps(stack), n), 240, f"Schritt {n} des Falls")
    sweep = [stack.bin("prefect"), "deployment", "run", "fristen-pruefen/fristen-pruefen"]
    subprocess.run(sweep, env=stack.env, check=True, capture_output=True)
    wait_until(lambda: finished(case_runs(stack), 1), 240, "Fristprüfung des Falls")

    runs = steps(stack) + case_runs(stack)
    names = [r["name"] for r in runs]
    assert sorted(names[:3]) == sorted(
        [
            f"{REF} · Zuweisung angelegt",
            f"{REF} · Erstgespräch terminiert",
            f"{REF} · Erstgespräch wahrgenommen (Gutschein eingelöst)",
        ]
    )
    assert names[3].startswith(f"Fristprüfung {datum(today)} · ") and names[3].endswith(" Timer")
    assert [r["state_name"] for r in runs] == ["Completed"] * 4
    card = latest_card(stack)
    assert card["description"].startswith(f"Fall {REF}: In Beratung")
    assert "Eskalation an die Koordination: 1. Rückmeldung" in card["data"]
    # flow runs carry parameters, task runs their inputs (the background task's parameters
    # are command ids in the task worker's result storage, never on the server)
    shown = " ".join(
        f"{r['name']} {r['tags']} {r.get('parameters', '')} {r.get('task_inputs', '')}"
        for r in runs
    )
    for secret in (CUSTOMER, EMAIL, "@", "Schuldnerberatung", "traeger"):
        assert secret not in shown and secret not in card["data"]

    pages = screenshot(stack, today - started, card["latest_id"])
    assert all(name in pages[0] for name in names[:3])  # the UI's task runs, by the tag
    assert f"Fall {REF}" in pages[1] and "Eskalation an die Koordination" in pages[1]


def referral(started: date) -> dict[str, Any]:
    return {
        "reference": REF,
        "customer_number": CUSTOMER,
        "site": "Aachen",
        "age_group": "25-49",
        "service_type": "schulden",
        "provider_code": "SB",
        "caseworker_email": "ifk@jobcenter.example",
        "contact_email": EMAIL,
        "reminders_consented": True,
        "occurred_on": str(started),
    }


def latest_card(stack: Stack) -> dict[str, Any]:
    body = {"artifacts": {"key": {"any_": [case_artifact_key(REF)]}}}
    [card] = prefect(stack, "/artifacts/latest/filter", body)
    return dict(card)


def screenshot(stack: Stack, age: timedelta, card_id: str) -> list[str]:
    """Open the case's runs (the dashboard's link, `models.urls.prefect_runs_url`) and the
    latest version of its card; save both side by side as
    ``out/screenshots/prefect-fall.png``. Returns the pages' texts."""
    from playwright.sync_api import sync_playwright

    ui = stack.prefect_api.removesuffix("/api")
    seconds = int((age + timedelta(days=2)).total_seconds())
    urls = [prefect_runs_url(ui, REF, seconds), f"{ui}/artifacts/artifact/{card_id}"]
    shots = [SCREENSHOTS / "prefect-fall-laeufe.png", SCREENSHOTS / "prefect-fall-akte.png"]
    SCREENSHOTS.mkdir(parents=True, exist_ok=True)
    texts = []
    with sync_playwright() as p:
        browser = p.chromium.launch(executable_path=CHROMIUM, args=["--headless", "--no-sandbox"])
        page = browser.new_page(viewport={"width": WIDTH, "height": HEIGHT})
        for url, shot, ready in zip(urls, shots, ("Erstgespräch", "Eskalationen"), strict=True):
            page.goto(url)
            page.get_by_text(ready).first.wait_for(timeout=30_000)
            page.wait_for_timeout(1500)  # the run list's state badges and bars
            page.screenshot(path=shot)
            texts.append(page.inner_text("body"))
        compose(page, shots, SCREENSHOTS / "prefect-fall.png")
        browser.close()
    return texts


def compose(page: Any, shots: list[Path], target: Path) -> None:
    """The screenshots side by side in one picture (rendered by the browser itself)."""
    images = "".join(f'<img src="{s.as_uri()}" width="{WIDTH}" height="{HEIGHT}">' for s in shots)
    html = target.with_suffix(".html")
    html.write_text(f'<body style="margin:0;display:flex;gap:8px;background:#888">{images}</body>')
    page.set_viewport_size({"width": (WIDTH + 8) * len(shots) - 8, "height": HEIGHT})
    page.goto(html.as_uri())
    page.wait_for_timeout(500)
    page.screenshot(path=target)
    html.unlink()
