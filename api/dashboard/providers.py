"""Dashboard page "Träger": capacity and load, waiting time, punctuality, escalations.

``GET /dashboard/traeger?von=…&bis=…`` (``&format=csv`` for the table as CSV). Every
figure counts only the cases the user may see (`api.access.visible`): a provider sees its
own row, a caseworker the cases of their site, the coordination all.

Definitions (the page states them too):

* **Neue Zuweisungen im Monat**: vouchers issued to the provider in the current calendar
  month up to today; **Auslastung** = that number / ``Provider.monthly_capacity``.
* **In Beratung** / **offene Fälle**: the provider's current referrals in a state marked
  ``counselling`` / not ``final`` in the process definition (`models.figures.states`).
* **Tage Gutschein → Erstgespräch** (period ``von`` … ``bis``, default the last twelve
  calendar months): for every referral whose first appointment lies in the period, the
  days from the redeemed voucher (the latest redeemed one issued on or before the first
  appointment) to the first appointment, counted for the provider on that voucher; median
  and 90th percentile (nearest rank), as in the Kennzahlen (`models.kennzahlen`).
* **Pünktlichkeit der Rückmeldungen**: of the deadlines completed by a provider's report
  (``report: true``: 1. Rückmeldung, Zwischenmeldung and Ergebnismeldung) due in the
  period and before today ("fällig"), the share met on or before the due date. A
  deadline cancelled on or before its due date (voucher expired, provider changed) was
  never due and does not count. Counted for the referral's current provider.
* **Offene Eskalationen**: escalations not yet resolved.

The figures come from the read model (`tasks.read_model.providers`) and the domain
(`models.figures.providers`); this module parses the request and renders. Every page view
and CSV export is audited (``report_read``, `api.dashboard.reports`).
"""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Query, Request
from fastapi.responses import HTMLResponse, Response

from api.access import scope
from api.dashboard import charts
from api.dashboard.reports import (
    BadPeriod,
    audit_report_read,
    csv_number,
    csv_share,
    parse_period,
)
from api.dashboard.web import DashboardUser, csv_response, page
from api.deps import NowDep, RegistryDep, SessionDep
from models.clock import local_date
from models.figures.providers import ProviderFigures, default_start
from models.figures.states import registry_states
from tasks.read_model.providers import providers_report

router = APIRouter()


CSV_HEADER = (
    "Träger",
    "Kapazität je Monat",
    "Neue Zuweisungen im Monat",
    "Auslastung",
    "In Beratung",
    "Offene Fälle",
    "Erstgespräche im Zeitraum",
    "Tage Gutschein bis Erstgespräch Median",
    "Tage Gutschein bis Erstgespräch 90. Perzentil",
    "Rückmeldefristen fällig",
    "davon pünktlich",
    "Pünktlichkeit",
    "Offene Eskalationen",
)


def _csv_row(row: ProviderFigures) -> list[str | int]:
    return [
        row.name,
        row.capacity,
        row.new_this_month,
        csv_share(row.load),
        row.in_counselling,
        row.open_cases,
        len(row.waits),
        csv_number(row.wait_median),
        csv_number(row.wait_p90),
        row.deadlines_due,
        row.deadlines_on_time,
        csv_share(row.punctuality),
        row.open_escalations,
    ]


@router.get("/traeger", response_class=HTMLResponse, include_in_schema=False)
def providers_page(
    request: Request,
    user: DashboardUser,
    session: SessionDep,
    now: NowDep,
    von: Annotated[str | None, Query()] = None,
    bis: Annotated[str | None, Query()] = None,
    format: Annotated[str | None, Query()] = None,
    *,
    registry: RegistryDep,
) -> Response:
    today = local_date(now)
    try:
        start, end = parse_period(von, bis, default=(default_start(today), today))
    except BadPeriod as problem:
        answer = page(
            request, "providers.html.j2", user, nav="providers", error=str(problem), report=None
        )
        answer.status_code = 400
        return answer
    states = registry_states(registry)
    report = providers_report(session, scope(user), states, today, start, end)
    rows = report.rows + ([report.total] if report.total else [])
    audit_report_read(
        session,
        user,
        now,
        "traeger",
        {"von": start.isoformat(), "bis": end.isoformat()},
        "csv" if format == "csv" else "html",
    )
    if format == "csv":
        return csv_response(
            f"traeger_{start:%Y-%m-%d}_{end:%Y-%m-%d}.csv", CSV_HEADER, map(_csv_row, rows)
        )
    all_waits = [w for r in report.rows for w in r.waits]
    bins = [charts.bin_label(low, high) for low, high in charts.WAITING_BINS]
    chart = charts.histogram(
        all_waits,
        title=f"Wartezeit Gutschein bis Erstgespräch, {start:%d.%m.%Y} – {end:%d.%m.%Y}",
        y_label="Fälle",
        chart_id="wartezeit",
    )
    return page(
        request,
        "providers.html.j2",
        user,
        nav="providers",
        error=None,
        report=report,
        chart=chart,
        histogram=list(zip(bins, charts.bin_counts(all_waits, charts.WAITING_BINS), strict=True)),
        waits_total=len(all_waits),
        query=f"von={start.isoformat()}&bis={end.isoformat()}",
    )
