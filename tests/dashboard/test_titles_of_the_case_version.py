"""Pages show a case's states, events and forms in the titles of its own process version
(issue 10, points 3 and 4): after the Kommune renames a state and a form, a case started
before keeps the old titles on its case page, in the provider's lists and in the REST API,
while a case started after shows the new ones.
"""

from __future__ import annotations

import shutil
from collections.abc import Iterator
from datetime import date
from pathlib import Path

import pytest
from fastapi.testclient import TestClient
from sqlmodel import select

from api.dashboard.web import COOKIE
from api.main import create_app
from api.security import hash_password
from api.trigger import InProcess
from models.clock import FakeClock
from models.process import SHIPPED_DIR, load_registry
from models.settings import Settings
from models.tables import Provider, User
from tests.dashboard.forms import FormClient, sign_in
from tests.factories import World, at, provider, world

STARTED = date(2026, 3, 2)
TODAY = date(2026, 3, 4)
PASSWORD = "Versionen-Titel-2026"
OLD_STATE, NEW_STATE = "Gutschein ausgegeben", "Gutschein beim Träger"
OLD_FORM, NEW_FORM = "Erstgespräch terminieren", "Termin des Erstgesprächs melden"


@pytest.fixture
def renamed(tmp_path: Path) -> Path:
    """The shipped definitions with the state voucher_issued and the booking form renamed."""
    target = tmp_path / "renamed"
    shutil.copytree(SHIPPED_DIR, target, ignore=shutil.ignore_patterns("kommunen"))
    path = target / "kel_referral.yaml"
    text = path.read_text(encoding="utf-8")
    for old, new in ((f'{{title: "{OLD_STATE}"}}', f'{{title: "{NEW_STATE}"}}'),
                     (f'title: "{OLD_FORM}"', f'title: "{NEW_FORM}"')):  # fmt: skip
        assert text.count(old) == 1, old
        text = text.replace(old, new)
    path.write_text(text, encoding="utf-8")
    return target


@pytest.fixture
def w(sqlite_url: str, renamed: Path) -> World:
    """REF-OLD started on the shipped definition, REF-NEW after the change."""
    kel = world(sqlite_url)
    kel.add(provider("SB-CARITAS", ("schulden",)))
    kel.start("REF-OLD", STARTED, customer_number="K000001")
    kel.registry = load_registry(renamed)  # the Kommune edits its file; the system restarts
    kel.start("REF-NEW", STARTED, customer_number="K000002")
    with kel.session() as s:
        caritas = s.exec(select(Provider)).one()
        for name, role, site, provider_id in (
            ("ifk.aachen", "caseworker", "Aachen", None),
            ("traeger.caritas", "provider", None, caritas.id),
        ):
            s.add(
                User(
                    username=name,
                    role=role,
                    site=site,
                    provider_id=provider_id,
                    password_hash=hash_password(PASSWORD),
                    created_at=at(STARTED),
                )
            )
        s.commit()
    return kel


@pytest.fixture
def client_for(w: World, renamed: Path) -> Iterator[dict[str, TestClient]]:
    settings = Settings(
        database_url=w.url,
        jwt_secret="Versionstitel-Testschluessel-0123456789abcdef",
        process_dir=renamed,
    )
    app = create_app(settings, clock=FakeClock(at(TODAY, 10)), trigger=InProcess())
    clients = {}
    for name in ("ifk.aachen", "traeger.caritas"):
        client = FormClient(app)
        client.__enter__()
        assert sign_in(client, name, PASSWORD).status_code == 303
        clients[name] = client
    yield clients
    for client in clients.values():
        client.__exit__(None, None, None)


def test_the_case_page_and_the_case_list_show_the_state_title_of_the_cases_version(
    client_for: dict[str, TestClient],
) -> None:
    caseworker = client_for["ifk.aachen"]
    old = caseworker.get("/dashboard/faelle/REF-OLD").text
    new = caseworker.get("/dashboard/faelle/REF-NEW").text

    listed = caseworker.get("/dashboard/faelle").text
    rows = {ref: listed.split(ref, 2)[-1].split("</tr>", 1)[0] for ref in ("REF-OLD", "REF-NEW")}

    assert OLD_STATE in old and NEW_STATE not in old
    assert NEW_STATE in new and OLD_STATE not in new
    assert OLD_STATE in rows["REF-OLD"] and NEW_STATE in rows["REF-NEW"]


def test_the_provider_sees_each_case_with_the_titles_and_forms_of_its_version(
    client_for: dict[str, TestClient],
) -> None:
    provider = client_for["traeger.caritas"]
    inbox = provider.get("/dashboard/portal").text
    rows = {ref: inbox.split(ref, 1)[1].split("</tr>", 1)[0] for ref in ("REF-OLD", "REF-NEW")}
    old_case = provider.get("/dashboard/faelle/REF-OLD").text
    new_case = provider.get("/dashboard/faelle/REF-NEW").text
    old_form = provider.get("/dashboard/faelle/REF-OLD/meldung/termin").text

    assert OLD_STATE in rows["REF-OLD"] and OLD_FORM in rows["REF-OLD"]
    assert NEW_STATE in rows["REF-NEW"] and NEW_FORM in rows["REF-NEW"]
    assert OLD_FORM in old_case and NEW_FORM not in old_case
    assert NEW_FORM in new_case and OLD_FORM not in new_case
    assert OLD_FORM in old_form


def test_the_rest_api_lists_each_case_with_the_state_title_of_its_version(
    client_for: dict[str, TestClient],
) -> None:
    caseworker = client_for["ifk.aachen"]
    bearer = {"Authorization": f"Bearer {caseworker.cookies[COOKIE]}"}
    listed = caseworker.get("/api/v1/referrals", headers=bearer).json()
    one = caseworker.get("/api/v1/referrals/REF-OLD", headers=bearer).json()

    titles = {r["reference"]: r["state_title"] for r in listed}
    assert titles == {"REF-OLD": OLD_STATE, "REF-NEW": NEW_STATE}
    assert one["state_title"] == OLD_STATE
