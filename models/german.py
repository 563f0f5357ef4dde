"""German formats for everything users read: dates, numbers, percentages (DIN 5008).

One place for the reports, the dashboard, the PDFs and the e-mails.
"""

from __future__ import annotations

from datetime import date, datetime

from models.clock import BERLIN

#: Non-breaking space: between a number and its unit ("12,5 %") and after "§" ("§ 16a").
NBSP = "\u00a0"
#: Narrow non-breaking space: the thousands separator of counts on pages ("12\u202f345").
NNBSP = "\u202f"


def datum(value: date | datetime | None, missing: str = "–") -> str:
    """``dd.mm.yyyy``; an aware datetime is first put in Europe/Berlin; None -> `missing`."""
    if value is None:
        return missing
    if isinstance(value, datetime) and value.tzinfo is not None:
        value = value.astimezone(BERLIN)
    return f"{value:%d.%m.%Y}"


def zahl(value: float | None, digits: int = 1, *, thousands: str = "", missing: str = "–") -> str:
    """Decimal comma, `digits` decimals, optional thousands separator (e.g. ``"."`` or
    a narrow space); None -> `missing`."""
    if value is None:
        return missing
    text = f"{value:,.{digits}f}"
    return text.replace(",", "\0").replace(".", ",").replace("\0", thousands)


def prozent(share: float | None, digits: int = 1, *, missing: str = "–", space: str = NBSP) -> str:
    """A share (0.125) as ``"12,5\u00a0%"`` (DIN 5008: a non-breaking `space` before the
    sign; a CSV export passes ``" "``); None -> `missing`."""
    return missing if share is None else f"{zahl(share * 100, digits)}{space}%"


def numerus(count: int, singular: str, plural: str) -> str:
    """The noun for `count` things: `singular` for exactly 1 (or -1), else `plural`."""
    return singular if abs(count) == 1 else plural


def anzahl(count: int | None, singular: str, plural: str, *, missing: str = "–") -> str:
    """A count with its noun in the right number: ``anzahl(1, "Tag", "Tage")`` -> "1 Tag",
    ``anzahl(3, "Tag", "Tage")`` -> "3 Tage" (pass the case the sentence needs: "seit 3
    Tagen" is ``anzahl(n, "Tag", "Tagen")``). Thousands get a narrow non-breaking space;
    only exactly 1 (also -1) takes the singular. None -> `missing`."""
    if count is None:
        return missing
    return f"{zahl(count, 0, thousands=NNBSP)} {numerus(count, singular, plural)}"
