"""Sending the dashboard's forms as a browser does: with the CSRF token the page carries."""

from __future__ import annotations

import re
from typing import Any

import httpx
from fastapi.testclient import TestClient

from api.dashboard.web import COOKIE

_TOKEN = re.compile(r'name="csrf_token" value="([^"]*)"')


def form_token(html: str) -> str:
    """The CSRF token of the first form in `html`."""
    found = _TOKEN.search(html)
    assert found is not None and found[1], "no CSRF token in the page"
    return found[1]


def page_token(client: TestClient, url: str = "/dashboard") -> str:
    """The CSRF token of the forms on the page at `url` (for the client's session)."""
    return form_token(client.get(url).text)


def sign_in(client: TestClient, username: str, password: str, **form: str) -> httpx.Response:
    """Open the login form, fill it in and send it; the answer is not followed."""
    token = page_token(client, "/dashboard/anmelden")
    data = {"username": username, "password": password, "csrf_token": token, **form}
    return client.post("/dashboard/anmelden", data=data, follow_redirects=False)


class FormClient(TestClient):
    """A test client that sends a form as a browser does: with the CSRF token of the
    dashboard page (added to a ``data`` dict without one, when signed in)."""

    def post(self, url: httpx.URL | str, **kwargs: Any) -> httpx.Response:  # type: ignore[override]
        data = kwargs.get("data")
        if isinstance(data, dict) and "csrf_token" not in data and COOKIE in self.cookies:
            kwargs["data"] = {**data, "csrf_token": page_token(self)}
        return super().post(url, **kwargs)
