"""German formats for everything users read: dates, numbers, percentages (DIN 5008).

One place for the reports, the dashboard, the PDFs and the e-mails.
"""

from __future__ import annotations

from datetime import date, datetime

from models.clock import BERLIN


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


def prozent(share: float | None, digits: int = 1, *, missing: str = "–") -> str:
    """A share (0.125) as ``"12,5 %"``; None -> `missing`."""
    return missing if share is None else f"{zahl(share * 100, digits)} %"
