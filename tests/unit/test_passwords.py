"""Password and signing-key strength (models.passwords): zxcvbn, German reasons."""

from __future__ import annotations

import secrets

import pytest

from models.passwords import password_problem, secret_problem, shannon_bits_per_char


@pytest.mark.parametrize(
    ("password", "reason"),
    [
        pytest.param(" " * 12, "nur aus Leerzeichen", id="12 spaces"),
        pytest.param("\t \n" * 5, "nur aus Leerzeichen", id="whitespace"),
        pytest.param("aaaaaaaaaaaa", "Wiederholungen", id="12 times a"),
        pytest.param("Passwort1234", "ähnelt einem häufigen Passwort", id="Passwort1234"),
        pytest.param("Kurz-7Qx!", "mindestens 12 Zeichen (es hat 9)", id="short"),
        pytest.param("qwertzuiopü1", "zu leicht zu erraten", id="keyboard row"),
    ],
)
def test_a_weak_password_is_refused_with_a_german_reason(password: str, reason: str) -> None:
    problem = password_problem(password)

    assert problem is not None
    assert reason in problem


@pytest.mark.parametrize(
    "password",
    ["Tonne Lampe Wiesel Kompass", "korrekt Pferd Batterie Heftklammer", "Gutschein-2026!"],
)
def test_a_strong_passphrase_is_accepted(password: str) -> None:
    assert password_problem(password) is None


def test_the_user_name_counts_as_easy_to_guess() -> None:
    password = "ifk.mueller.aachen"

    assert password_problem(password) is None
    assert password_problem(password, user_inputs=("ifk.mueller.aachen",)) is not None


def test_the_least_score_is_a_setting() -> None:
    assert password_problem("qwertzuiopü1") is not None  # zxcvbn score 2
    assert password_problem("qwertzuiopü1", min_score=2) is None


def test_a_very_long_password_is_judged_without_an_error() -> None:
    assert password_problem("Tonne Lampe Wiesel Kompass " * 10) is None


def test_openssl_rand_hex_32_is_a_fit_signing_key() -> None:
    for _ in range(20):
        assert secret_problem(secrets.token_hex(32)) is None
    assert secret_problem(secrets.token_urlsafe(48)) is None


@pytest.mark.parametrize(
    ("secret", "reason"),
    [
        pytest.param("a" * 32, "weniger als 10 verschiedene Zeichen", id="32 times a"),
        pytest.param("ab" * 40, "weniger als 10 verschiedene Zeichen", id="ab repeated"),
        pytest.param("0123456789" + "0" * 30, "zu gleichförmig", id="low entropy"),
        pytest.param("0123456789abcdef" * 2, "zu leicht zu erraten", id="a sequence"),
        pytest.param(secrets.token_hex(15), "kürzer als 32 Bytes", id="30 hex characters"),
    ],
)
def test_a_short_or_low_entropy_signing_key_is_refused(secret: str, reason: str) -> None:
    problem = secret_problem(secret)

    assert problem is not None
    assert reason in problem


def test_shannon_entropy_in_bits_per_character() -> None:
    assert shannon_bits_per_char("aaaa") == 0
    assert shannon_bits_per_char("abab") == 1
    assert shannon_bits_per_char("0123456789abcdef") == 4
