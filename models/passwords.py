"""Strength of passwords and signing keys, judged by zxcvbn (no home-made word lists).

`password_problem` is used wherever a password is set (``kel user add``); `secret_problem`
by the settings for ``KEL_JWT_SECRET``. Both return a German sentence naming the reason,
or None when the value is acceptable. Pure: no I/O, no clock.
"""

from __future__ import annotations

import math
from collections import Counter

MIN_PASSWORD_LENGTH = 12
MIN_SCORE = 3  # zxcvbn: 0 (trivial) … 4 (very hard); 3 ≈ 10^10 guesses
MIN_SECRET_BYTES = 32
MIN_SECRET_DISTINCT = 10  # different characters in a signing key
MIN_SECRET_BITS_PER_CHAR = 3.0  # Shannon entropy of its characters (hex: about 3.8)
ZXCVBN_MAX_LENGTH = 72  # zxcvbn refuses longer input; the first 72 characters are judged

# zxcvbn's warnings (English, gettext-wrapped without a German catalogue) in German.
WARNINGS = {
    "Straight rows of keys are easy to guess.": "Tastaturreihen sind leicht zu erraten",
    "Short keyboard patterns are easy to guess.": "kurze Tastaturmuster sind leicht zu erraten",
    'Repeats like "aaa" are easy to guess.': "Wiederholungen wie „aaa“ sind leicht zu erraten",
    'Repeats like "abcabcabc" are only slightly harder to guess than "abc".': (
        "Wiederholungen wie „abcabcabc“ sind kaum schwerer zu erraten als „abc“"
    ),
    'Sequences like "abc" or "6543" are easy to guess.': (
        "Folgen wie „abc“ oder „6543“ sind leicht zu erraten"
    ),
    "Recent years are easy to guess.": "Jahreszahlen sind leicht zu erraten",
    "Dates are often easy to guess.": "Datumsangaben sind leicht zu erraten",
    "This is a top-10 common password.": "es gehört zu den 10 häufigsten Passwörtern",
    "This is a top-100 common password.": "es gehört zu den 100 häufigsten Passwörtern",
    "This is a very common password.": "es ist ein sehr häufiges Passwort",
    "This is similar to a commonly used password.": "es ähnelt einem häufigen Passwort",
    "A word by itself is easy to guess.": "ein einzelnes Wort ist leicht zu erraten",
    "Names and surnames by themselves are easy to guess.": (
        "Vor- und Nachnamen allein sind leicht zu erraten"
    ),
    "Common names and surnames are easy to guess.": "häufige Namen sind leicht zu erraten",
}


def _score(value: str, user_inputs: list[str]) -> tuple[int, str]:
    """zxcvbn's score (0–4) and its warning (German, may be empty) for `value`."""
    from zxcvbn import zxcvbn  # type: ignore[import-untyped]  # word lists load on first use

    result = zxcvbn(value[:ZXCVBN_MAX_LENGTH], user_inputs=user_inputs)
    warning = str(result["feedback"]["warning"] or "")
    return int(result["score"]), WARNINGS.get(warning, "")


def password_problem(
    password: str, *, min_score: int = MIN_SCORE, user_inputs: tuple[str, ...] = ()
) -> str | None:
    """Why `password` is too weak (German sentence), or None when it may be used.

    Refused: fewer than 12 characters, only whitespace, zxcvbn score below `min_score`.
    `user_inputs` (user name, e-mail) count as easy to guess.
    """
    if not password.strip():
        return "Das Passwort darf nicht nur aus Leerzeichen bestehen."
    if len(password) < MIN_PASSWORD_LENGTH:
        return (
            f"Das Passwort braucht mindestens {MIN_PASSWORD_LENGTH} Zeichen "
            f"(es hat {len(password)})."
        )
    score, warning = _score(password, list(user_inputs))
    if score < min_score:
        reason = f": {warning}" if warning else ""
        return (
            f"Das Passwort ist zu leicht zu erraten (Stärke {score} von 4, "
            f"nötig sind {min_score}){reason}. Besser: mehrere ungewöhnliche Wörter."
        )
    return None


def shannon_bits_per_char(value: str) -> float:
    """Shannon entropy of the character distribution of `value`, in bits per character."""
    if not value:
        return 0.0
    counts = Counter(value)
    return -sum(n / len(value) * math.log2(n / len(value)) for n in counts.values())


def secret_problem(secret: str) -> str | None:
    """Why `secret` is unfit to sign tokens (German sentence), or None.

    Refused: under 32 bytes (UTF-8), fewer than 10 distinct characters, Shannon entropy
    under 3 bits per character, or zxcvbn score below 3. ``openssl rand -hex 32`` passes.
    """
    if len(secret.encode()) < MIN_SECRET_BYTES:
        return f"KEL_JWT_SECRET ist kürzer als {MIN_SECRET_BYTES} Bytes."
    if len(set(secret)) < MIN_SECRET_DISTINCT:
        return (
            f"KEL_JWT_SECRET hat weniger als {MIN_SECRET_DISTINCT} verschiedene Zeichen "
            "und ist damit nicht zufällig."
        )
    if shannon_bits_per_char(secret) < MIN_SECRET_BITS_PER_CHAR:
        return "KEL_JWT_SECRET ist zu gleichförmig (zu wenig Entropie je Zeichen)."
    score, warning = _score(secret, [])
    if score < MIN_SCORE:
        reason = f": {warning}" if warning else ""
        return f"KEL_JWT_SECRET ist zu leicht zu erraten{reason}."
    return None
