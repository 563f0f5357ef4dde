"""Signed, expiring links from a reminder e-mail to exactly the form it asks for.

A reminder to a provider (``provider_reminder``) names a Frist; its link opens the portal
form that meets that Frist (the deadline's ``form`` in the process YAML, `deadline_forms`).
The link carries only the case's Aktenzeichen and the form's slug (no names, DESIGN §4.4),
signed with the app's key (itsdangerous ``URLSafeTimedSerializer``, HMAC; salt `SALT`, so a
CSRF token or another signed value is never accepted as a link), and expires after
``max_days`` days (``Settings.form_link_days``, default `DEFAULT_DAYS`). It does not log
anyone in: the form page asks for a login and checks the user's scope as every page does.

Pure: no database or web code; time is passed in (`now`).
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from itsdangerous import BadData, TimestampSigner, URLSafeTimedSerializer

from models.process import Registry
from models.settings import Settings
from models.urls import case_url, link_url


def deadline_forms(registry: Registry) -> dict[str, str]:
    """Deadline kind -> slug of the portal form that meets it, for every process of
    `registry` (a deadline's ``form``, `models.process.DeadlineDef`; the forms are the
    transitions' ``form``, `api.dashboard.portal_forms.forms`)."""
    return {
        kind: deadline.form
        for process in registry.processes.values()
        for kind, deadline in process.deadlines.items()
        if deadline.form is not None
    }


SALT = "formular-link"
DEFAULT_DAYS = 14
MAX_TOKEN_CHARS = 512
CLOCK_SKEW = timedelta(minutes=10)


class LinkInvalid(ValueError):
    """A link we did not sign, or one that was changed or is malformed."""


class LinkExpired(LinkInvalid):
    """A link we signed whose lifetime has passed."""


@dataclass(frozen=True)
class FormLink:
    """What a link carries: the case's Aktenzeichen and the form's slug, nothing else."""

    reference: str
    form: str


class _ClockSigner(TimestampSigner):
    """itsdangerous' timestamp signer, reading the time from `now` (a fake clock in tests)."""

    def __init__(self, *args: Any, now: datetime, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self._now = now

    def get_timestamp(self) -> int:
        return int(self._now.timestamp())


def _serializer(secret: str, now: datetime) -> URLSafeTimedSerializer:
    return URLSafeTimedSerializer(
        secret, salt=SALT, signer=_ClockSigner, signer_kwargs={"now": now}
    )


def sign_form_link(secret: str, link: FormLink, now: datetime) -> str:
    """A URL-safe token for `link`, signed with `secret` (the app's key) at `now`."""
    return str(_serializer(secret, now).dumps([link.reference, link.form]))


def read_form_link(secret: str, token: str, now: datetime, max_days: int) -> FormLink:
    """The `FormLink` in `token` if it was signed with `secret` at most `max_days` days
    before `now` (a signature up to `CLOCK_SKEW` after `now` counts as fresh: the sender's
    and the web server's clocks may differ a little).

    Raises `LinkExpired` for an authentic but older token, `LinkInvalid` for anything else
    (wrong key, changed content, malformed, over `MAX_TOKEN_CHARS` characters, signed
    further in the future).
    """
    if len(token) > MAX_TOKEN_CHARS:
        raise LinkInvalid("Link zu lang")
    try:
        value, signed_at = _serializer(secret, now).loads(token, return_timestamp=True)
    except BadData as bad:
        raise LinkInvalid("Link ungültig") from bad
    if not (isinstance(value, list) and len(value) == 2 and all(isinstance(v, str) for v in value)):
        raise LinkInvalid("Link ungültig")
    age = now - signed_at
    if age < -CLOCK_SKEW:
        raise LinkInvalid("Link ungültig")
    if age > timedelta(days=max_days):
        raise LinkExpired("Link abgelaufen")
    return FormLink(value[0], value[1])


def mail_link(
    settings: Settings, reference: str, template: str, form: str | None, now: datetime | None
) -> str:
    """The link an e-mail of `template` about case `reference` carries (``app_url`` of the
    notification templates): for a reminder to a provider (``provider_reminder``) about a
    Frist met by the portal form `form` (slug, `deadline_forms`; None: none), the signed
    link (valid from `now`) to that form;
    otherwise, or without ``KEL_JWT_SECRET`` (dev mode: a key per process, which another
    process could not check), the case page, which asks for a login all the same. Empty
    without ``KEL_APP_URL``."""
    key = settings.jwt_secret
    if template != "provider_reminder" or form is None or key is None or now is None:
        return case_url(settings.app_url, reference)
    token = sign_form_link(key.get_secret_value(), FormLink(reference, form), now)
    return link_url(settings.app_url, token)
