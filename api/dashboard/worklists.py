"""Arbeitslisten: die Fallliste (``/dashboard/faelle``) und der Eingang der Eskalationen
(``/dashboard/eskalationen``) mit Quittieren, Zuweisen und Erledigen, einzeln und für eine
Auswahl (DESIGN §6: "works an escalation inbox and case lists").

Both lists page through everything that matches (`PAGE_SIZE` rows a page, the total
shown: no silent cut-off), keep their filters in the URL (a GET form, so a view can be
bookmarked) and show only the cases `api.access.visible` allows. The inbox is for the
Koordination § 16a and the Administration. Every change of an escalation goes through
`api.routes.escalations.escalation_for` and `change_escalation`, the path of the API, once
per form key (`api.idempotency`), audited there. After a form the answer is a 303 back to
the list with a ``hinweis`` code (its German text is looked up here) and the row's id as
the fragment; ``static/kel.js`` puts the focus back on that row and announces the result
in the page's ``role=status`` region. The pages work without JavaScript.
"""

from __future__ import annotations

from dataclasses import dataclass, replace
from datetime import datetime, timedelta
from typing import Annotated, Literal
from urllib.parse import parse_qsl, quote, urlencode

from fastapi import APIRouter, Depends, Form, Query, Request
from fastapi import Path as PathParam
from fastapi.responses import HTMLResponse, RedirectResponse, Response
from sqlmodel import Session

from api.access import scope
from api.dashboard.cases import ESCALATION_STATES, error_page
from api.dashboard.csrf import CsrfDep
from api.dashboard.web import DashboardUser, page
from api.deps import NowDep, RegistryDep, SessionDep
from api.errors import Problem
from api.idempotency import IdempotencyKey, idempotent
from api.routes.escalations import Action, change_escalation, escalation_for
from api.schemas import EscalationOut
from api.views import escalation_out
from models.clock import BERLIN, local_date
from models.german import anzahl
from models.tables import Escalation, EscalationState, Role, User
from tasks.escalations import overdue_text
from tasks.read_model import worklists as q
from tasks.repository import NotFound

router = APIRouter()

PAGE_SIZE = 50
VISIT_GAP = timedelta(minutes=30)
"""Views of the inbox less than this apart are one visit ("neu seit Ihrem letzten Besuch")."""
MAX_SELECTED = 500
Text = Annotated[str, Query(max_length=100)]
Verb = Literal["quittieren", "zuweisen", "erledigen"]
ACTIONS: dict[str, Action] = {
    "quittieren": "acknowledge",
    "zuweisen": "assign",
    "erledigen": "resolve",
}
DONE = {"quittieren": "quittiert", "zuweisen": "zugewiesen", "erledigen": "erledigt"}
MESSAGES = {
    "quittiert": "Die Eskalation Nr. {nr} wurde quittiert.",
    "zugewiesen": "Die Eskalation Nr. {nr} wurde zugewiesen.",
    "erledigt": "Die Eskalation Nr. {nr} wurde erledigt.",
    "unveraendert": "Die Eskalation Nr. {nr} war bereits so erfasst; nichts geändert.",
    "bereits-erledigt": "Die Eskalation Nr. {nr} war bereits erledigt.",
    "name-fehlt": "Bitte angeben, wem die Eskalation zugewiesen wird.",
    "nichts-ausgewaehlt": "Bitte mindestens eine Eskalation auswählen.",
    "abgelehnt": "Die Aktion war nicht möglich; bitte die Seite neu laden.",
}
CASE_SORTS = {
    "frist": "am längsten überfällige zuerst",
    "aktenzeichen": "nach Aktenzeichen",
    "neueste": "neueste zuerst (Beginn)",
    "aelteste": "älteste zuerst (Beginn)",
}
INBOX_PARAMS = ("leistungsart", "traeger", "standort", "status", "stufe", "mir", "neu", "suche")
INBOX_STATES = {"open": "offen", "acknowledged": "quittiert"}
LEVELS = ("1", "2")  # ladder steps of an escalation (`Escalation.level`)


@dataclass(frozen=True)
class Paging:
    """Page `number` (1-based, within 1..`pages`) of `total` rows, `size` a page."""

    number: int
    size: int
    total: int

    @property
    def pages(self) -> int:
        return max(1, -(-self.total // self.size))

    @property
    def offset(self) -> int:
        return (self.number - 1) * self.size

    @property
    def first(self) -> int:
        return min(self.total, self.offset + 1)

    @property
    def last(self) -> int:
        return min(self.total, self.offset + self.size)

    def window(self) -> list[int | None]:
        """Page numbers to link: first, last and two either side of the current one;
        None where pages are left out (shown as "…")."""
        keep = {1, self.pages, *range(self.number - 2, self.number + 3)}
        shown: list[int | None] = []
        for n in range(1, self.pages + 1):
            if n in keep:
                shown.append(n)
            elif shown[-1] is not None:
                shown.append(None)
        return shown


def paging(requested: int, total: int) -> Paging:
    """The page `requested`, or the last one when there are fewer pages."""
    last = Paging(1, PAGE_SIZE, total).pages
    return Paging(min(requested, last), PAGE_SIZE, total)


# --- Fälle ---------------------------------------------------------------------------


def case_filter(
    leistungsart: Text = "",
    traeger: Text = "",
    standort: Text = "",
    zustand: Text = q.OPEN,
    ueberfaellig: bool = False,
    eskaliert: bool = False,
    mir: bool = False,
    suche: Text = "",
    sortierung: Text = "frist",
) -> q.CaseFilter:
    """The case list's filters from the URL (German names, codes as values)."""
    return q.CaseFilter(
        service=leistungsart,
        provider=traeger,
        site=standort,
        state=zustand or q.OPEN,
        overdue=ueberfaellig,
        escalated=eskaliert,
        mine=mir,
        search=suche.strip(),
        sort=sortierung if sortierung in CASE_SORTS else "frist",
    )


def case_query(f: q.CaseFilter, **page: int) -> str:
    """`f` (and ``seite``) as a URL query, without the defaults."""
    values = {
        "leistungsart": f.service,
        "traeger": f.provider,
        "standort": f.site,
        "zustand": "" if f.state == q.OPEN else f.state,
        "ueberfaellig": "1" if f.overdue else "",
        "eskaliert": "1" if f.escalated else "",
        "mir": "1" if f.mine else "",
        "suche": f.search,
        "sortierung": "" if f.sort == "frist" else f.sort,
        **{k: str(v) for k, v in page.items() if v > 1},
    }
    return urlencode({k: v for k, v in values.items() if v})


@router.get("/faelle", response_class=HTMLResponse, summary="Fälle")
def case_list(
    request: Request,
    user: DashboardUser,
    session: SessionDep,
    registry: RegistryDep,
    now: NowDep,
    f: Annotated[q.CaseFilter, Depends(case_filter)],
    seite: Annotated[int, Query(ge=1, le=1_000_000)] = 1,
) -> HTMLResponse:
    """Alle Fälle im Sichtbereich, gefiltert, sortiert (Standard: am längsten überfällige
    zuerst), `PAGE_SIZE` je Seite."""
    today = local_date(now)
    pages = paging(seite, q.case_count(session, registry, scope(user), f, today))
    rows = q.case_rows(session, registry, scope(user), f, today, pages.offset, pages.size)
    return page(
        request,
        "faelle.html.j2",
        user,
        nav="cases",
        f=f,
        rows=rows,
        paging=pages,
        choices=q.choices(session, registry, scope(user)),
        sorts=CASE_SORTS,
        link=lambda n: "/dashboard/faelle?" + case_query(f, seite=n),
        today=today,
        overdue_text=overdue_text,
        filtered=bool(case_query(replace(f, sort="frist"))),
    )


def case_by_spelling(session: Session, user: User, reference: str) -> RedirectResponse | None:
    """A redirect (303) to the case whose Aktenzeichen is `reference` in another upper/lower
    case, among the cases `user` sees; to the case list searching for it when two match;
    None when none does (the caller answers 404)."""
    found = q.references_like(session, scope(user), reference)
    if len(found) == 1:
        return RedirectResponse(f"/dashboard/faelle/{quote(found[0], safe='')}", 303)
    if found:
        query = urlencode({"suche": reference, "zustand": q.ALL})
        return RedirectResponse(f"/dashboard/faelle?{query}", 303)
    return None


# --- Eskalationen --------------------------------------------------------------------


def inbox_filter(
    leistungsart: Text = "",
    traeger: Text = "",
    standort: Text = "",
    status: Text = "",
    stufe: Text = "",
    mir: bool = False,
    suche: Text = "",
) -> q.InboxFilter:
    """The inbox's filters from the URL (``status``: ``open``/``acknowledged``; ``stufe``:
    1 or 2); an empty field of the GET form means "no restriction"."""
    return q.InboxFilter(
        service=leistungsart,
        provider=traeger,
        site=standort,
        state=status if status in INBOX_STATES else "",
        level=int(stufe) if stufe in LEVELS else 0,
        mine=mir,
        search=suche.strip(),
    )


def inbox_query(f: q.InboxFilter, new: bool, **page: int) -> str:
    values = {
        "leistungsart": f.service,
        "traeger": f.provider,
        "standort": f.site,
        "status": f.state,
        "stufe": str(f.level) if f.level else "",
        "mir": "1" if f.mine else "",
        "neu": "1" if new else "",
        "suche": f.search,
        **{k: str(v) for k, v in page.items() if v > 1},
    }
    return urlencode({k: v for k, v in values.items() if v})


def visit_inbox(session: Session, user: User, now: datetime) -> datetime | None:
    """Record that `user` opened the inbox at `now`; returns the moment after which
    escalations count as new: the last view before this visit (views less than
    `VISIT_GAP` apart are one visit), None on the first visit ever."""
    seen = user.escalations_seen_at
    if seen is None or now - seen > VISIT_GAP:
        user.escalations_new_since = seen
    user.escalations_seen_at = now
    session.add(user)
    session.commit()
    return user.escalations_new_since


@router.get("/eskalationen", response_class=HTMLResponse, summary="Eskalationen")
def inbox(
    request: Request,
    user: DashboardUser,
    session: SessionDep,
    registry: RegistryDep,
    now: NowDep,
    f: Annotated[q.InboxFilter, Depends(inbox_filter)],
    neu: bool = False,
    seite: Annotated[int, Query(ge=1, le=1_000_000)] = 1,
    hinweis: Annotated[str, Query(max_length=40)] = "",
    nr: Annotated[int, Query(ge=0, le=2**63 - 1)] = 0,
    done: Annotated[int, Query(alias="anzahl", ge=0, le=MAX_SELECTED)] = 0,
    unveraendert: Annotated[int, Query(ge=0, le=MAX_SELECTED)] = 0,
) -> HTMLResponse:
    """Offene und quittierte Eskalationen, die am längsten überfällige zuerst (nur
    Koordination § 16a und Administration)."""
    if user.role not in (Role.coordinator, Role.admin):
        return error_page(request, user, 403)
    new_since = visit_inbox(session, user, now)
    if neu:
        f = replace(f, new_since=new_since or now)
    pages = paging(seite, q.inbox_count(session, scope(user), f))
    return page(
        request,
        "eskalationen.html.j2",
        user,
        nav="escalations",
        f=f,
        neu=neu,
        rows=q.inbox_rows(session, registry, scope(user), f, pages.offset, pages.size, new_since),
        paging=pages,
        new_since=new_since.astimezone(BERLIN) if new_since else None,
        new_count=q.new_count(session, scope(user), new_since),
        choices=q.choices(session, registry, scope(user)),
        assignees=q.assignees(session),
        states=INBOX_STATES,
        escalation_states=ESCALATION_STATES,
        query=inbox_query(f, neu, seite=pages.number),
        link=lambda n: "/dashboard/eskalationen?" + inbox_query(f, neu, seite=n),
        today=local_date(now),
        overdue_text=overdue_text,
        message=message(hinweis, nr, done, unveraendert),
        filtered=bool(inbox_query(f, neu)),
    )


def message(code: str, nr: int, done: int, unchanged: int) -> str | None:
    """The German text for the ``hinweis`` code of a redirect after a form."""
    if code in ("sammel-quittiert", "sammel-zugewiesen"):
        verb = "quittiert" if code == "sammel-quittiert" else "zugewiesen"
        text = f"{anzahl(done, 'Eskalation wurde', 'Eskalationen wurden')} {verb}."
        if unchanged:
            text += f" {anzahl(unchanged, 'blieb', 'blieben')} unverändert"
            text += " (bereits so erfasst oder erledigt)."
        return text
    template = MESSAGES.get(code)
    return template.format(nr=nr) if template else None


@router.post(
    "/eskalationen/{escalation_id}/{verb}", summary="Eskalation bearbeiten", dependencies=[CsrfDep]
)
def act_on_escalation(
    request: Request,
    escalation_id: Annotated[int, PathParam(ge=1, le=2**63 - 1)],
    verb: Verb,
    user: DashboardUser,
    session: SessionDep,
    now: NowDep,
    form_key: Annotated[str, Form(min_length=8, max_length=128)],
    assigned_to: Annotated[str, Form(max_length=120)] = "",
    zurueck: Annotated[str, Form(max_length=2000)] = "",
) -> Response:
    """Quittieren, zuweisen oder erledigen, mit derselben Logik und demselben Audit-Eintrag
    wie die API; zurück in den Eingang zur Zeile der Eskalation (303)."""
    if user.role not in (Role.coordinator, Role.admin):
        return error_page(request, user, 403)
    assignee = assigned_to.strip() or None
    if verb == "zuweisen" and assignee is None:
        return back(zurueck, f"eskalation-{escalation_id}", hinweis="name-fehlt")
    if escalation_id > 2**31 - 1:  # beyond PostgreSQL's INTEGER id: no such escalation
        return error_page(request, user, 404)
    try:
        outcome = change(session, user, now, escalation_id, verb, assignee, form_key)
    except NotFound:
        return error_page(request, user, 404)
    return back(zurueck, f"eskalation-{escalation_id}", hinweis=outcome, nr=escalation_id)


@router.post(
    "/eskalationen/auswahl", summary="Ausgewählte Eskalationen bearbeiten", dependencies=[CsrfDep]
)
def act_on_selection(
    request: Request,
    user: DashboardUser,
    session: SessionDep,
    now: NowDep,
    aktion: Annotated[Literal["quittieren", "zuweisen"], Form()],
    form_key: Annotated[str, Form(min_length=8, max_length=100)],
    eskalation: Annotated[list[int], Form(max_length=MAX_SELECTED)] = [],  # noqa: B006
    assigned_to: Annotated[str, Form(max_length=120)] = "",
    zurueck: Annotated[str, Form(max_length=2000)] = "",
) -> Response:
    """Die ausgewählten Eskalationen quittieren oder zuweisen: jede einzeln auf dem Weg der
    API (eigener Audit-Eintrag, einmal je Formular); zurück zur ersten ausgewählten Zeile."""
    if user.role not in (Role.coordinator, Role.admin):
        return error_page(request, user, 403)
    selected = sorted(set(eskalation))
    assignee = assigned_to.strip() or None
    if not selected or (aktion == "zuweisen" and assignee is None):
        code = "nichts-ausgewaehlt" if not selected else "name-fehlt"
        return back(zurueck, "auswahl", hinweis=code)
    done = 0
    for escalation_id in selected:
        try:
            outcome = change(
                session, user, now, escalation_id, aktion, assignee, f"{form_key}-{escalation_id}"
            )
        except NotFound:
            outcome = "nicht-gefunden"
        done += outcome == DONE[aktion]
    unchanged = len(selected) - done
    fragment = f"eskalation-{eskalation[0]}" if eskalation else "auswahl"
    return back(
        zurueck, fragment, hinweis=f"sammel-{DONE[aktion]}", anzahl=done, unveraendert=unchanged
    )


def change(
    session: Session,
    user: User,
    now: datetime,
    escalation_id: int,
    verb: str,
    assignee: str | None,
    form_key: str,
) -> str:
    """Apply `verb` to one escalation through the API's path, once per `form_key`; returns
    the outcome code (`DONE`, ``unveraendert``, ``bereits-erledigt``, ``abgelehnt``).
    Raises `NotFound` for an escalation outside `user`'s view."""
    escalation, reference = escalation_for(session, user, escalation_id)
    action, changed = ACTIONS[verb], [True]

    def write() -> EscalationOut:
        if _already(escalation, action, assignee):
            changed[0] = False  # nothing to do: no change, no audit entry
        else:
            change_escalation(session, escalation, action, user, now, assignee)
        return escalation_out(escalation, reference)

    fingerprint = f"POST /dashboard/eskalationen/{escalation_id}/{verb} {assignee or ''}"
    try:
        idempotent(session, user, IdempotencyKey(form_key, fingerprint), now, write, 200)
    except Problem as problem:
        resolved = problem.extra.get("state") == EscalationState.resolved
        return "bereits-erledigt" if resolved else "abgelehnt"
    return DONE[verb] if changed[0] else "unveraendert"


def _already(escalation: Escalation, action: Action, assignee: str | None) -> bool:
    """Whether `action` would change nothing: acknowledging an acknowledged escalation,
    assigning it to whom it is assigned to already."""
    if escalation.state == EscalationState.resolved:
        return False  # change_escalation refuses it (409)
    if action == "acknowledge":
        return escalation.state == EscalationState.acknowledged
    return action == "assign" and escalation.assigned_to == assignee


def back(zurueck: str, fragment: str, **hint: str | int) -> RedirectResponse:
    """303 to the inbox with the list's filters (`zurueck`, the query of the page the form
    was on; only the inbox's own parameters are kept), the hint and the row's fragment."""
    kept = [(k, v) for k, v in parse_qsl(zurueck)[:20] if k in (*INBOX_PARAMS, "seite")]
    query = urlencode(kept + [(k, str(v)) for k, v in hint.items()])
    return RedirectResponse(f"/dashboard/eskalationen?{query}#{fragment}", status_code=303)
