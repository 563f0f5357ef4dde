"""The audit trail's hash chain, pure (models.audit_chain): canonical form and SHA-256."""

from __future__ import annotations

import hashlib
from dataclasses import replace
from datetime import UTC, datetime, timedelta, timezone

import pytest

from models.audit_chain import GENESIS, Entry, canonical_json, entry_hash, normalise_detail

AT = datetime(2026, 3, 2, 8, 0, 0, 123456, tzinfo=UTC)
ENTRY = Entry(
    seq=1,
    at=AT,
    actor="ifk.aachen",
    role="caseworker",
    action="referral_started",
    referral_id=7,
    detail={"state_to": "voucher_issued", "on": "2026-03-02"},
)


def test_the_canonical_form_sorts_keys_without_blanks_and_keeps_umlauts() -> None:
    assert canonical_json({"b": 1, "a": ["ä", None]}) == '{"a":["ä",null],"b":1}'


def test_the_hash_is_sha256_over_the_previous_hash_and_the_canonical_content() -> None:
    content = (
        '{"action":"referral_started","actor":"ifk.aachen",'
        '"at":"2026-03-02T08:00:00.123456+00:00",'
        '"detail":{"on":"2026-03-02","state_to":"voucher_issued"},'
        '"referral_id":7,"role":"caseworker","seq":1}'
    )
    assert ENTRY.canonical() == content
    assert entry_hash(GENESIS, ENTRY) == hashlib.sha256((GENESIS + content).encode()).hexdigest()


def test_the_genesis_value_is_sixty_four_zeros() -> None:
    assert GENESIS == "0" * 64


def test_the_same_moment_in_another_time_zone_hashes_the_same() -> None:
    berlin = AT.astimezone(timezone(timedelta(hours=1)))

    assert entry_hash(GENESIS, replace(ENTRY, at=berlin)) == entry_hash(GENESIS, ENTRY)


@pytest.mark.parametrize(
    "change",
    [
        {"seq": 2},
        {"at": AT - timedelta(microseconds=1)},
        {"actor": "ifk.eschweiler"},
        {"role": "admin"},
        {"action": "referral_closed"},
        {"referral_id": 8},
        {"referral_id": None},
        {"detail": {"state_to": "closed", "on": "2026-03-02"}},
    ],
    ids=lambda change: next(iter(change)),
)
def test_changing_any_field_changes_the_hash(change: dict[str, object]) -> None:
    assert entry_hash(GENESIS, replace(ENTRY, **change)) != entry_hash(GENESIS, ENTRY)  # type: ignore[arg-type]


def test_a_different_previous_hash_changes_the_hash() -> None:
    assert entry_hash("f" * 64, ENTRY) != entry_hash(GENESIS, ENTRY)


def test_a_naive_time_is_refused() -> None:
    with pytest.raises(ValueError, match="Zeitzone"):
        replace(ENTRY, at=AT.replace(tzinfo=None)).canonical()


@pytest.mark.parametrize("value", [float("nan"), float("inf")])
def test_detail_without_a_json_form_is_refused(value: float) -> None:
    with pytest.raises(ValueError):
        normalise_detail({"hours": value})


def test_detail_is_normalised_to_what_the_database_gives_back() -> None:
    assert normalise_detail({"planned": (1, 2), "n": 1.5}) == {"planned": [1, 2], "n": 1.5}
