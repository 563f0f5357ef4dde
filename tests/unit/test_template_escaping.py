"""Every Jinja2 template of the project, rendered with a hostile value in every variable.

The templates are discovered from the file system (every ``*.j2`` in the project's
packages, e.g. ``api/``, ``notifications/``, ``demo/``, and every file in a ``templates``
directory there), so a new template or a new template directory is covered, or fails
here, without editing this file; so does a new Jinja2 environment. Each template is
rendered by the environment the application uses for it; every variable the template
(or a template it extends or imports) reads is a :class:`Hostile` object: printing it,
any attribute, item, call, iteration or arithmetic on it yields the payload again. Each
template is rendered once with every value true and once per name with that one false,
so both sides of every ``{% if %}`` are reached. An HTML output must never contain the
payload raw.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any, ClassVar

import jinja2
import pytest
from jinja2 import meta, nodes
from jinja2.defaults import DEFAULT_NAMESPACE
from markupsafe import Markup

from api.dashboard import charts, csrf  # noqa: F401 - csrf: the dashboard's template globals
from api.dashboard.web import TEMPLATES
from demo.report import environment as demo_environment
from notifications.render import environment as notification_environment

ROOT = Path(__file__).resolve().parents[2]
PAYLOAD = "<script>alert(1)</script><img src=x onerror=alert(2)>\"'&"
RAW = ("<script", "<img")
OWN_SCRIPT = '<script src="/static/kel.js" defer></script>'
PACKAGES = tuple(
    p.name for p in ROOT.iterdir() if (p / "__init__.py").is_file() and p.name != "tests"
)  # api, notifications, demo, models, tasks, flows, cli, …
BUILDERS = ("Environment(", "Jinja2Templates(", "Template(")


def environments() -> dict[Path, jinja2.Environment]:
    """The template directory of every environment the application builds."""
    return {
        ROOT / "api" / "dashboard" / "templates": TEMPLATES.env,
        ROOT / "notifications" / "templates": notification_environment(),
        ROOT / "demo" / "templates": demo_environment(),
    }


def template_files() -> list[Path]:
    found: set[Path] = set()
    for package in PACKAGES:
        base = ROOT / package
        found.update(base.rglob("*.j2"))
        for directory in base.rglob("templates"):
            found.update(p for p in directory.rglob("*") if p.is_file())
    return sorted(p for p in found if "__pycache__" not in p.parts)


def is_html(name: str) -> bool:
    return name.endswith((".html", ".htm", ".html.j2", ".svg.j2", ".xml"))


# --- the hostile value -----------------------------------------------------------------------


class Hostile:
    """Stands for any value a template may get: text, record, list, mapping, number, date.

    ``str()`` is the payload; attributes, items and calls give another `Hostile`; iteration
    gives one element, a tuple of the right size where the template unpacks (`ARITY`, from
    the template's ``for a, b in …`` loops, keyed by the last name of the iterated
    expression). It is true, except where its name is `FALSY` (so that each ``{% if %}``
    and ``{% else %}`` branch is reached in one of the renders). It has no ``__html__``:
    nothing may treat it as safe markup.
    """

    ARITY: ClassVar[dict[str, int]] = {}
    FALSY: ClassVar[str | None] = None

    def __init__(self, name: str = "") -> None:
        self._name = name

    def __str__(self) -> str:
        return PAYLOAD

    def __getattr__(self, name: str) -> Hostile:
        if name.startswith("__"):
            raise AttributeError(name)
        return Hostile(name)

    def __getitem__(self, key: object) -> Hostile:
        return Hostile("[]")

    def __call__(self, *args: object, **kwargs: object) -> Hostile:
        return Hostile(f"{self._name}()")

    def __iter__(self) -> Iterator[object]:
        arity = self.ARITY.get(self._name)
        if arity is None:
            yield Hostile("[]")
        else:
            yield HostileTuple(Hostile(f"[{i}]") for i in range(arity))

    def __format__(self, spec: str) -> str:
        return PAYLOAD

    def __abs__(self) -> Hostile:
        return Hostile("abs")

    __neg__ = __pos__ = __abs__

    def __len__(self) -> int:
        return 1

    def __bool__(self) -> bool:
        return self._name != Hostile.FALSY

    def __contains__(self, item: object) -> bool:
        return False

    def __eq__(self, other: object) -> bool:
        return False

    def __hash__(self) -> int:
        return id(self)

    def __lt__(self, other: object) -> bool:
        return False

    __le__ = __gt__ = __ge__ = __lt__

    def __add__(self, other: object) -> Hostile:
        return Hostile("+")

    __radd__ = __sub__ = __rsub__ = __mul__ = __rmul__ = __truediv__ = __rtruediv__ = __add__


class HostileTuple(tuple[Hostile, ...]):
    """The element of a loop that unpacks it; where another template reads the same
    name without unpacking, its attributes are hostile too."""

    def __getattr__(self, name: str) -> Hostile:
        if name.startswith("__"):
            raise AttributeError(name)
        return Hostile(name)


def _last_name(node: nodes.Node) -> str | None:
    if isinstance(node, nodes.Name):
        return node.name
    if isinstance(node, nodes.Getattr):
        return node.attr
    if isinstance(node, nodes.Call):
        inner = _last_name(node.node)
        return f"{inner}()" if inner else None
    if isinstance(node, nodes.Or | nodes.And):
        return _last_name(node.left)
    return None


def unpacking(ast: nodes.Template) -> dict[str, int]:
    """``{last name of the iterated expression: number of loop targets}`` for tuple loops."""
    arity: dict[str, int] = {}
    for loop in ast.find_all(nodes.For):
        if isinstance(loop.target, nodes.Tuple):
            name = _last_name(loop.iter)
            if name is not None:
                assert arity.get(name, len(loop.target.items)) == len(loop.target.items), name
                arity[name] = len(loop.target.items)
    return arity


def _lenient(real: Any) -> Any:
    """A filter for dates, numbers or URLs that is given the hostile value as text, or
    passes it on as text where it cannot take text either."""

    def apply(value: object, *args: object, **kwargs: object) -> object:
        for argument in (value, str(value)):
            try:
                return real(argument, *args, **kwargs)
            except Exception:  # deliberately not a date, number or URL text
                continue
        return str(value)

    return apply


def hostile_renders(env: jinja2.Environment, name: str) -> Iterator[str]:
    """Render `name` with every variable of every template of `env` hostile: once with
    every value true, then once for each variable or attribute name with that one false."""
    assert env.loader is not None
    sources = [env.loader.get_source(env, n)[0] for n in env.list_templates()]
    asts = [env.parse(source) for source in sources]
    variables: set[str] = set().union(*(meta.find_undeclared_variables(a) for a in asts))
    variables |= set(env.globals) - set(DEFAULT_NAMESPACE)  # the app's globals (csrf_token)
    attributes = {node.attr for a in asts for node in a.find_all(nodes.Getattr)}
    Hostile.ARITY = {k: v for a in asts for k, v in unpacking(a).items()}
    overlay = env.overlay()
    # macros imported without context see the environment's globals, not the render's
    # (a new dict: an overlay shares the environment's, and the app's must stay untouched)
    hostile_globals = {g: Hostile(g) for g in set(env.globals) - set(DEFAULT_NAMESPACE)}
    overlay.globals = {**env.globals, **hostile_globals}
    overlay.filters = dict(env.filters)  # not the environment's own dict (shared otherwise)
    own = set(env.filters) - set(jinja2.filters.FILTERS)  # the app's filters (datum, zahl, …)
    for filter_name in (*own, "urlencode"):
        if filter_name in env.filters:
            overlay.filters[filter_name] = _lenient(env.filters[filter_name])
    template = overlay.get_template(name)
    for falsy in (None, *sorted(variables | attributes)):
        Hostile.FALSY = falsy
        try:
            yield template.render({v: Hostile(v) for v in variables})
        finally:
            Hostile.FALSY = None


# --- tests -----------------------------------------------------------------------------------


def test_every_jinja2_environment_of_the_application_is_checked_here() -> None:
    builders = {
        path.relative_to(ROOT).as_posix()
        for package in PACKAGES
        for path in (ROOT / package).rglob("*.py")
        if any(b in path.read_text(encoding="utf-8") for b in BUILDERS)
    }
    assert builders == {"api/dashboard/web.py", "notifications/render.py", "demo/report.py"}


def test_every_template_belongs_to_an_environment_of_the_application() -> None:
    homes = environments()
    files = template_files()
    assert len(files) >= 20  # dashboard, e-mails and the demo report
    strays = [p for p in files if not any(p.is_relative_to(d) for d in homes)]
    assert strays == [], "a template without a known (autoescaping) Jinja2 environment"


@pytest.mark.parametrize(
    "path", template_files(), ids=lambda p: str(p.relative_to(ROOT)) if isinstance(p, Path) else p
)
def test_a_hostile_value_in_every_variable_comes_out_escaped(path: Path) -> None:
    directory, env = next((d, e) for d, e in environments().items() if path.is_relative_to(d))
    name = path.relative_to(directory).as_posix()
    renders = list(hostile_renders(env, name))
    if not is_html(name):
        return  # plain text (e-mail text part, subject): no markup to break
    autoescape = env.autoescape(name) if callable(env.autoescape) else env.autoescape
    assert autoescape is True, name
    file = Path(name).name
    if not (file.startswith("_") or "macros" in file):  # a page, not a base or macro file
        assert "&lt;script&gt;" in renders[0], name
    for html in renders:
        # the one script the pages may load: a file of our own (CSP script-src 'self')
        html = html.replace(OWN_SCRIPT, "")
        for raw in RAW:
            assert raw not in html.lower(), f"{name}: unescaped {raw!r}"


def test_the_dashboard_escapes_every_template_and_strings() -> None:
    env = TEMPLATES.env
    assert env.autoescape is True
    assert "<" not in env.from_string("{{ v }}").render(v=PAYLOAD)


def test_e_mail_html_is_escaped_and_e_mail_text_is_not() -> None:
    env = notification_environment()
    assert callable(env.autoescape)
    assert env.autoescape("provider_reminder.html") is True
    assert env.autoescape("_macros.html") is True
    assert env.autoescape("provider_reminder.txt") is False
    assert env.autoescape(None) is True  # templates from strings


@pytest.mark.parametrize(
    "draw",
    [
        lambda: charts.bar_chart([PAYLOAD], [1.0], title=PAYLOAD, y_label=PAYLOAD, unit=PAYLOAD),
        lambda: charts.histogram([1.0, 20.0], title=PAYLOAD, unit=PAYLOAD, chart_id=PAYLOAD),
        lambda: charts.grouped_bars([PAYLOAD], {PAYLOAD: [1.0]}, title=PAYLOAD, desc=PAYLOAD),
        lambda: charts.line_chart([PAYLOAD], {PAYLOAD: [2.0]}, title=PAYLOAD, chart_id=PAYLOAD),
        lambda: charts.bar_chart([], [], title=PAYLOAD, chart_id=PAYLOAD),
    ],
    ids=["bars", "histogram", "grouped", "lines", "empty"],
)
def test_charts_are_markup_built_from_escaped_text(draw: Any) -> None:
    svg = draw()
    assert isinstance(svg, Markup)
    for raw in RAW:
        assert raw not in svg.lower()
    assert str(TEMPLATES.env.from_string("{{ svg }}").render(svg=svg)) == str(svg)
