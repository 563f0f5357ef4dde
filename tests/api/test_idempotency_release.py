"""An Idempotency-Key whose request died is free again: the client's retry succeeds once.

The key is claimed in the transaction of the change it guards (`api.idempotency`), so a
request that dies leaves nothing behind; a claim left unfinished by an earlier version is
released after the lease.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import timedelta
from typing import Any

import pytest
from sqlmodel import func, select

import api.service
from api.idempotency import LEASE
from models.clock import FakeClock
from models.tables import IdempotencyRecord, Referral
from tasks.commands import REFERENCE_TAKEN
from tests.api.conftest import ApiClient, referral_body
from tests.factories import World


def referrals(kel: World) -> int:
    with kel.session() as s:
        return int(s.exec(select(func.count()).select_from(Referral)).one())


def test_a_retry_after_a_request_that_died_succeeds_exactly_once(
    kel: World,
    client_for: Callable[[str], ApiClient],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    real = api.service.execute

    def dies(*args: Any, **kwargs: Any) -> Any:
        real(*args, **kwargs)  # the change is made, then the process "dies"
        raise RuntimeError("Prozess beendet")

    monkeypatch.setattr(api.service, "execute", dies)
    ifk = client_for("ifk.aachen")
    body = referral_body("AC-DIED")

    with pytest.raises(RuntimeError):  # the test client re-raises what killed the request
        ifk.write("/api/v1/referrals", body, key="schluessel-1234")
    assert referrals(kel) == 0
    with kel.session() as s:
        assert s.exec(select(IdempotencyRecord)).all() == []

    monkeypatch.setattr(api.service, "execute", real)
    retry = ifk.write("/api/v1/referrals", body, key="schluessel-1234")
    again = ifk.write("/api/v1/referrals", body, key="schluessel-1234")

    assert retry.status_code == 202, retry.text
    assert again.status_code == 202 and again.headers["Idempotent-Replayed"] == "true"
    assert again.json() == retry.json()
    assert referrals(kel) == 1


def test_an_unfinished_claim_is_released_after_the_lease(
    kel: World, client_for: Callable[[str], ApiClient], clock: FakeClock
) -> None:
    ifk = client_for("ifk.aachen")
    body = referral_body("AC-LEASE")
    first = ifk.write("/api/v1/referrals", body, key="schluessel-5678")
    with kel.session() as s:
        record = s.exec(select(IdempotencyRecord)).one()
        fingerprint = record.fingerprint
        s.delete(record)
    with kel.session() as s:  # a claim as an earlier version left it: no answer stored
        s.add(
            IdempotencyRecord(
                username="ifk.aachen",
                key="schluessel-9999",
                fingerprint=fingerprint,
                created_at=clock.now(),
            )
        )
    assert first.status_code == 202

    busy = ifk.write("/api/v1/referrals", body, key="schluessel-9999")
    assert busy.status_code == 409 and "noch bearbeitet" in busy.json()["detail"]

    clock.advance(LEASE + timedelta(seconds=1))
    released = client_for("ifk.aachen").write("/api/v1/referrals", body, key="schluessel-9999")
    assert released.status_code == 409, released.text  # released, then judged: taken
    assert released.json()["detail"] == REFERENCE_TAKEN
