"""Shared fixtures: a migrated database per test, on SQLite and on PostgreSQL (`db_url`,
parametrised), and the shipped definitions."""

from __future__ import annotations

import os
import sqlite3
import uuid
from collections.abc import Iterator
from contextlib import closing, contextmanager
from pathlib import Path

import pytest

os.environ.setdefault("PREFECT_SERVER_ANALYTICS_ENABLED", "false")

from models.db import engine, migrate
from tests.factories import World, provider, world


@pytest.fixture(scope="session")
def migrated_template(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """One database migrated with Alembic per session; tests get copies of it."""
    path = tmp_path_factory.mktemp("template") / "kel.db"
    migrate(f"sqlite:///{path}")
    return path


@pytest.fixture
def sqlite_url(tmp_path: Path, migrated_template: Path) -> str:
    """A migrated SQLite database of its own (a copy of the session's template).

    For the tests of SQLite's own mechanics only; every other test takes `db_url`."""
    path = tmp_path / "kel.db"
    with (
        closing(sqlite3.connect(migrated_template)) as source,
        closing(sqlite3.connect(path)) as target,
    ):
        source.backup(target)
    return f"sqlite:///{path}"


@pytest.fixture(
    params=[
        pytest.param("sqlite", id="sqlite"),
        pytest.param("postgresql", id="pg", marks=pytest.mark.postgres),
    ]
)
def db_url(request: pytest.FixtureRequest) -> str:
    """A migrated database of its own, once on SQLite and once on PostgreSQL: every test
    that takes it (or `kel`) runs on both (``-m "not postgres"`` runs SQLite only)."""
    return str(request.getfixturevalue("sqlite_url" if request.param == "sqlite" else "pg_url"))


@pytest.fixture
def kel(db_url: str) -> World:
    """A world with one debt-counselling and one addiction-counselling provider."""
    w = world(db_url)
    w.add(
        provider("SB-CARITAS", ("schulden",)),
        provider("SB-DIAKONIE", ("schulden",)),
        provider("SUCHT-CARITAS", ("sucht",)),
    )
    return w


# --- PostgreSQL beside SQLite (the local server of these machines, trust auth) ---
#
# Every test that takes `db_url`, `kel` or `module_db` runs on both. On one backend only,
# on purpose:
# - `sqlite_url`: SQLite's own mechanics (``BEGIN IMMEDIATE``, file copies, WAL).
# - `pg_url`: PostgreSQL's own mechanics: row locks watched in ``pg_stat_activity``,
#   ``pg_terminate_backend`` (tests/faults: API killed, PostgreSQL restart, worker killed
#   while firing), ``FOR UPDATE SKIP LOCKED``; `make up` runs on PostgreSQL as in production.
# - tests/e2e stacks with a Prefect server, a worker and the API (test_api_with_prefect,
#   test_prefect_case_view, test_schedules_on_prefect_server) and tests/browser (one served
#   dashboard per module, Chromium): SQLite; a second stack per module costs a Prefect
#   server's start and the whole module again (minutes on two cores) and exercises no
#   database path the API, dashboard and fault tests do not already run on PostgreSQL.

PG_HOST, PG_PORT = "127.0.0.1", 5432
PG_ADMIN = f"host={PG_HOST} port={PG_PORT} user=postgres dbname=postgres"
#: Set by `.ci/run` (and `make test`): an unreachable PostgreSQL fails the tests that need
#: it instead of skipping them, so a CI run cannot pass on SQLite alone.
REQUIRE_POSTGRES = os.environ.get("KEL_REQUIRE_POSTGRES") == "1"


def postgres_reachable() -> bool:
    """Whether the local PostgreSQL answers (CI starts it; elsewhere tests skip)."""
    import socket

    try:
        with socket.create_connection((PG_HOST, PG_PORT), timeout=1):
            return True
    except OSError:
        return False


def require_postgres() -> None:
    """Skip the calling test or fixture without PostgreSQL; fail it under
    ``KEL_REQUIRE_POSTGRES=1`` (CI)."""
    if not postgres_reachable():
        message = f"PostgreSQL unter {PG_HOST}:{PG_PORT} nicht erreichbar"
        if REQUIRE_POSTGRES:
            pytest.fail(f"{message} (KEL_REQUIRE_POSTGRES=1)")
        pytest.skip(message)


def pg_database_url(name: str) -> str:
    return f"postgresql+psycopg://postgres@{PG_HOST}:{PG_PORT}/{name}"


def _admin(sql: str) -> None:
    import psycopg

    with psycopg.connect(PG_ADMIN, autocommit=True, connect_timeout=5) as conn:
        conn.execute(sql)


class PgPool:
    """Per-test PostgreSQL databases of one pytest process, reused after a reset.

    A database is a copy of the session's migrated template (``CREATE DATABASE …
    TEMPLATE``); when its test ends, its rows are deleted and its sequences restarted
    (about 30 ms, against about 360 ms for creating and dropping a copy, measured on the
    2-core machine), with ``session_replication_role = replica`` so that neither the
    foreign keys nor the audit trail's append-only triggers (migrations 0001, 0007) fire.
    ``alembic_version`` keeps its row. A database that cannot be reset, or whose
    migration revision a test changed, is dropped instead of reused."""

    def __init__(self, template: str, prefix: str) -> None:
        self.template = template
        self.prefix = prefix
        self.free: list[str] = []
        self.made: list[str] = []
        self.reset_sql = ""
        self.revision = ""

    def acquire(self) -> str:
        if self.free:
            return self.free.pop()
        name = f"{self.prefix}_{len(self.made)}"
        _admin(f'CREATE DATABASE "{name}" TEMPLATE "{self.template}"')
        self.made.append(name)
        if not self.reset_sql:
            self._prepare(name)
        return name

    def _prepare(self, name: str) -> None:
        import psycopg

        dsn = f"host={PG_HOST} port={PG_PORT} user=postgres dbname={name}"
        with psycopg.connect(dsn, autocommit=True, connect_timeout=5) as conn:
            tables = [
                str(row[0])
                for row in conn.execute(
                    "SELECT tablename FROM pg_tables WHERE schemaname = 'public' "
                    "AND tablename <> 'alembic_version'"
                )
            ]
            sequences = [
                str(row[0])
                for row in conn.execute(
                    "SELECT sequencename FROM pg_sequences WHERE schemaname = 'public'"
                )
            ]
            self.revision = str(conn.execute("SELECT version_num FROM alembic_version").fetchone())
        deletes = "".join(f'DELETE FROM "{table}";' for table in tables)
        restarts = ", ".join(f"setval('\"{seq}\"', 1, false)" for seq in sequences)
        self.reset_sql = (
            "BEGIN; SET LOCAL session_replication_role = replica; SET LOCAL lock_timeout = '10s';"
            f"{deletes}" + (f"SELECT {restarts};" if restarts else "") + "COMMIT;"
        )

    def release(self, name: str) -> None:
        import psycopg

        engine(pg_database_url(name)).dispose()
        dsn = f"host={PG_HOST} port={PG_PORT} user=postgres dbname={name}"
        try:
            with psycopg.connect(dsn, autocommit=True, connect_timeout=5) as conn:
                # what a test left connected (a server process, a leaked session) goes
                conn.execute(
                    "SELECT pg_terminate_backend(pid) FROM pg_stat_activity "
                    "WHERE datname = current_database() AND pid <> pg_backend_pid()"
                )
                revision = str(conn.execute("SELECT version_num FROM alembic_version").fetchone())
                if revision != self.revision:
                    raise ValueError(f"Revision {revision} statt {self.revision}")
                conn.execute(self.reset_sql)
        except (psycopg.Error, ValueError):
            _admin(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
            self.made.remove(name)
            return
        self.free.append(name)

    def close(self) -> None:
        for name in self.made:
            engine(pg_database_url(name)).dispose()
            _admin(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


@pytest.fixture(scope="session")
def pg_template() -> Iterator[str]:
    """One PostgreSQL database migrated with Alembic per pytest process (xdist worker),
    used as a template."""
    require_postgres()
    pytest.importorskip("psycopg")
    worker = os.environ.get("PYTEST_XDIST_WORKER", "main")
    name = f"kel_tmpl_{worker}_{uuid.uuid4().hex[:8]}"
    _admin(f'CREATE DATABASE "{name}"')
    url = pg_database_url(name)
    try:
        migrate(url)
        engine(url).dispose()
        yield name
    finally:
        engine(url).dispose()
        _admin(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


@pytest.fixture(scope="session")
def pg_pool(pg_template: str) -> Iterator[PgPool]:
    pool = PgPool(pg_template, pg_template.replace("kel_tmpl_", "kel_test_"))
    try:
        yield pool
    finally:
        pool.close()


@pytest.fixture
def pg_url(pg_pool: PgPool) -> Iterator[str]:
    """A migrated PostgreSQL database of its own (empty but for the migration revision)."""
    name = pg_pool.acquire()
    try:
        yield pg_database_url(name)
    finally:
        pg_pool.release(name)


class ModuleDb:
    """A migrated database of one test module (`module_db`, SQLite or PostgreSQL like
    `db_url`): seed it once at `url`, then give each test its own `copy()`."""

    def __init__(self, url: str, root: Path, pool: PgPool | None = None) -> None:
        self.url = url
        self.root = root
        self.pool = pool
        self._rows: list[tuple[str, bytes]] | None = None
        self._sequences: list[tuple[str, int, bool]] = []

    @contextmanager
    def copy(self) -> Iterator[str]:
        """A copy of the database as it is now, for the ``with`` block: a SQLite backup,
        or on PostgreSQL a database of the pool filled with the seeded rows (``COPY``;
        creating and dropping a database per test took up to 5 s on a loaded machine)."""
        engine(self.url).dispose()
        if self.pool is None:
            path = self.root / f"kopie-{uuid.uuid4().hex[:8]}.db"
            _sqlite_copy(Path(self.url.removeprefix("sqlite:///")), path)
            yield f"sqlite:///{path}"
            engine(f"sqlite:///{path}").dispose()
            return
        if self._rows is None:
            self._snapshot()
        name = self.pool.acquire()
        try:
            self._restore(name)
            yield pg_database_url(name)
        finally:
            self.pool.release(name)

    def _snapshot(self) -> None:
        import psycopg

        with psycopg.connect(_dsn(self.url.rsplit("/", 1)[1]), autocommit=True) as conn:
            tables = conn.execute(
                "SELECT relname FROM pg_stat_user_tables WHERE relname <> 'alembic_version'"
            ).fetchall()
            self._rows = []
            for (table,) in tables:
                with conn.cursor().copy(f'COPY "{table}" TO STDOUT (FORMAT BINARY)') as out:
                    data = b"".join(bytes(chunk) for chunk in out)
                self._rows.append((str(table), data))
            for (sequence,) in conn.execute(
                "SELECT sequencename FROM pg_sequences WHERE schemaname = 'public'"
            ).fetchall():
                row = conn.execute(f'SELECT last_value, is_called FROM "{sequence}"').fetchone()
                assert row is not None
                self._sequences.append((str(sequence), int(row[0]), bool(row[1])))

    def _restore(self, name: str) -> None:
        import psycopg

        with psycopg.connect(_dsn(name)) as conn, conn.cursor() as cur:
            cur.execute("SET LOCAL session_replication_role = replica")
            for table, data in self._rows or []:
                with cur.copy(f'COPY "{table}" FROM STDIN (FORMAT BINARY)') as into:
                    into.write(data)
            for sequence, value, called in self._sequences:
                cur.execute("SELECT setval(%s, %s, %s)", (f'"{sequence}"', value, called))


def _dsn(name: str) -> str:
    return f"host={PG_HOST} port={PG_PORT} user=postgres dbname={name}"


def _sqlite_copy(source: Path, target: Path) -> None:
    with closing(sqlite3.connect(source)) as a, closing(sqlite3.connect(target)) as b:
        a.backup(b)


@pytest.fixture(
    scope="module",
    params=[
        pytest.param("sqlite", id="sqlite"),
        pytest.param("postgresql", id="pg", marks=pytest.mark.postgres),
    ],
)
def module_db(
    request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[ModuleDb]:
    """A migrated database per test module and backend, for worlds built once per module
    (the seeded templates of the dashboard tests); each test takes a `ModuleDb.copy`."""
    root = tmp_path_factory.mktemp("module-db")
    if request.param == "sqlite":
        path = root / "kel.db"
        _sqlite_copy(request.getfixturevalue("migrated_template"), path)
        yield ModuleDb(f"sqlite:///{path}", root)
        engine(f"sqlite:///{path}").dispose()
        return
    pool: PgPool = request.getfixturevalue("pg_pool")
    name = pool.acquire()
    try:
        yield ModuleDb(pg_database_url(name), root, pool)
    finally:
        pool.release(name)


#: Test directories whose tests run one after another on one xdist worker (`make test`
#: runs ``-n 2 --dist loadgroup``): the process tests start Prefect servers, workers and
#: API processes whose start-up deadlines do not survive a second such stack beside them
#: on two cores; the flow tests share one Prefect test server per worker.
SERIAL_GROUPS = {"e2e": "processes", "faults": "processes", "flows": "prefect"}


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    """Mark every test on PostgreSQL `postgres` (so ``-m "not postgres"`` leaves them);
    group the tests for xdist: `SERIAL_GROUPS` by directory, every other file whole (its
    module-scoped fixtures are then built once).

    xdist 3.8 groups by a suffix it appends to ``item._nodeid``, which pytest 9 no longer
    reads (it keeps ``_id``): hence ``pytest<9`` in pyproject. The process tests take free
    ports and their own Prefect homes all the same, so two stacks side by side never meet."""
    root = Path(__file__).parent
    for item in items:
        if "pg_url" in getattr(item, "fixturenames", ()):
            item.add_marker(pytest.mark.postgres)
        relative = item.path.relative_to(root) if item.path.is_relative_to(root) else item.path
        group = SERIAL_GROUPS.get(relative.parts[0], relative.as_posix())
        item.add_marker(pytest.mark.xdist_group(group))
