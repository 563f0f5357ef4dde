"""The hash-chained audit trail against a real database, SQLite and PostgreSQL alike
(tasks.audit_trail, migration 0007, ``kel audit verify``).

The database refuses every manipulation through SQL (UPDATE, DELETE, TRUNCATE, REPLACE,
an insert out of order, unchained or backdated). A manipulation behind the triggers'
back (the test drops them first, as an attacker with the database owner's rights could)
is found by `verify_chain`, which names the first broken row.
"""

from __future__ import annotations

import threading
import uuid
from collections.abc import Iterator
from dataclasses import replace
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from alembic import command
from sqlalchemy import JSON, Integer, String, column, insert, select, text
from sqlalchemy import table as sa_table
from sqlalchemy.dialects import postgresql
from sqlalchemy.exc import DBAPIError
from typer.testing import CliRunner

from cli.main import app as cli
from models.audit_chain import GENESIS, Entry, entry_hash
from models.db import alembic_config, engine, migrate, session, write_session
from models.tables import UTCDateTime
from tasks.audit_trail import AUDIT, Break, Flaw, verify_chain
from tasks.repository import Actor, audit
from tests.conftest import require_postgres

T0 = datetime(2026, 3, 2, 8, 0, tzinfo=UTC)
ACTOR = Actor("ifk.aachen", "caseworker")
PG_HOST, PG_PORT = "127.0.0.1", 5432
ALL_GUARDS = {
    "sqlite": [
        f"DROP TRIGGER IF EXISTS {name}"
        for name in ("auditevent_no_update", "auditevent_no_delete", "auditevent_chain")
    ],
    "postgresql": [
        f"DROP TRIGGER IF EXISTS {name} ON auditevent"
        for name in ("auditevent_append_only", "auditevent_no_truncate", "auditevent_chain")
    ],
}


ADMIN = f"host={PG_HOST} port={PG_PORT} user=postgres dbname=postgres"


def _pg_url(name: str) -> str:
    return f"postgresql+psycopg://postgres@{PG_HOST}:{PG_PORT}/{name}"


@pytest.fixture(scope="module")
def postgres() -> Iterator[Any]:
    """`database(migrated=False)`: a PostgreSQL database: a new empty one, or the module's
    migrated one with an empty audit trail again. All are dropped at the end."""
    require_postgres()
    psycopg = pytest.importorskip("psycopg")
    made: list[str] = []
    prefix = f"kel_audit_{uuid.uuid4().hex[:8]}"

    def create() -> str:
        name = f"{prefix}_{len(made)}"
        try:
            with psycopg.connect(ADMIN, autocommit=True, connect_timeout=5) as conn:
                conn.execute(f'CREATE DATABASE "{name}"')
        except psycopg.OperationalError as exc:
            pytest.skip(f"PostgreSQL nicht nutzbar: {exc}")
        made.append(name)
        return _pg_url(name)

    shared = create()
    migrate(shared)

    def database(migrated: bool = False) -> str:
        if not migrated:
            return create()
        # empty the trail and rebuild migration 0007 (cheaper than a new database)
        execute(shared, *ALL_GUARDS["postgresql"], "TRUNCATE auditevent RESTART IDENTITY")
        command.downgrade(alembic_config(shared), "0006")
        command.upgrade(alembic_config(shared), "head")
        return shared

    try:
        yield database
    finally:
        for name in made:
            engine(_pg_url(name)).dispose()
            with psycopg.connect(ADMIN, autocommit=True, connect_timeout=5) as conn:
                conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


@pytest.fixture(params=["sqlite", "postgresql"])
def backend(request: pytest.FixtureRequest) -> str:
    return str(request.param)


@pytest.fixture
def blank_url(backend: str, request: pytest.FixtureRequest, tmp_path: Path) -> str:
    """An empty database (not migrated): a SQLite file or a PostgreSQL database."""
    if backend == "sqlite":
        return f"sqlite:///{tmp_path / 'audit.db'}"
    return str(request.getfixturevalue("postgres")())


@pytest.fixture
def url(backend: str, request: pytest.FixtureRequest) -> str:
    """A migrated database with five audit rows, 1 minute apart (seq 1..5)."""
    if backend == "sqlite":
        migrated = str(request.getfixturevalue("sqlite_url"))
    else:
        migrated = str(request.getfixturevalue("postgres")(migrated=True))
    for minute in range(5):
        with write_session(migrated) as s:
            moment = T0 + timedelta(minutes=minute)
            audit(s, moment, ACTOR, "referral_started", minute + 1, n=minute)
    return migrated


def dialect(url: str) -> str:
    return engine(url).dialect.name


def rows(url: str) -> list[Any]:
    with session(url) as s:
        return list(s.execute(select(AUDIT).order_by(AUDIT.c.seq)).all())


def execute(url: str, *statements: Any) -> None:
    """Run `statements` (SQL text or SQLAlchemy statements) in one transaction."""
    with engine(url).begin() as conn:
        for statement in statements:
            conn.execute(text(statement) if isinstance(statement, str) else statement)


def drop_guards(url: str) -> None:
    """What an attacker with the owner's rights does first: drop the triggers."""
    execute(url, *ALL_GUARDS[dialect(url)])


def verify(url: str, anchor: tuple[int, str] | None = None) -> Any:
    with session(url) as s:
        return verify_chain(s, anchor=anchor)


def entry_of(row: Any, **change: Any) -> Entry:
    entry = Entry(row.seq, row.at, row.actor, row.role, row.action, row.referral_id, row.detail)
    return replace(entry, **change)


def values_of(entry: Entry, prev_hash: str) -> dict[str, Any]:
    """The column values of a row holding `entry`, chained to `prev_hash`."""
    return {
        "seq": entry.seq,
        "prev_hash": prev_hash,
        "hash": entry_hash(prev_hash, entry),
        "at": entry.at,
        "actor": entry.actor,
        "role": entry.role,
        "action": entry.action,
        "referral_id": entry.referral_id,
        "detail": entry.detail,
    }


def next_row(url: str, **change: Any) -> dict[str, Any]:
    """The values of a correct next row (seq 6), then `change`d."""
    last = rows(url)[-1]
    entry = entry_of(last, seq=last.seq + 1, at=last.at + timedelta(minutes=1), actor="x")
    return {**values_of(entry, last.hash), **change}


def rehash_from(url: str, seq: int) -> None:
    """Recompute prev_hash and hash from row `seq` on, as an attacker who knows the
    algorithm would after changing that row (guards dropped)."""
    chain = rows(url)
    prev_hash = chain[seq - 2].hash if seq > 1 else GENESIS
    for row in chain[seq - 1 :]:
        digest = entry_hash(prev_hash, entry_of(row))
        execute(
            url,
            AUDIT.update().where(AUDIT.c.id == row.id).values(prev_hash=prev_hash, hash=digest),
        )
        prev_hash = digest


# --- the chain as written -------------------------------------------------------------


def test_rows_are_numbered_from_one_and_each_links_to_the_previous_hash(url: str) -> None:
    chain = rows(url)

    assert [r.seq for r in chain] == [1, 2, 3, 4, 5]
    assert chain[0].prev_hash == GENESIS
    assert [r.prev_hash for r in chain[1:]] == [r.hash for r in chain[:-1]]
    assert all(r.hash == entry_hash(r.prev_hash, entry_of(r)) for r in chain)
    report = verify(url)
    assert (report.intact, report.count, report.head_seq, report.head_hash) == (
        True,
        5,
        5,
        chain[-1].hash,
    )


def test_an_empty_trail_is_intact(blank_url: str) -> None:
    migrate(blank_url)

    report = verify(blank_url)

    assert (report.intact, report.count, report.head_seq) == (True, 0, None)


def test_a_clock_that_went_back_is_clamped_to_the_last_rows_time(url: str) -> None:
    with write_session(url) as s:
        audit(s, T0 - timedelta(days=1), ACTOR, "late", None)

    last = rows(url)[-1]
    assert (last.seq, last.action, last.at) == (6, "late", T0 + timedelta(minutes=4))
    assert verify(url).intact


def test_two_audits_in_one_transaction_are_consecutive_links(url: str) -> None:
    with write_session(url) as s:
        audit(s, T0 + timedelta(hours=1), ACTOR, "first", None)
        audit(s, T0 + timedelta(hours=1), ACTOR, "second", None)

    assert [(r.seq, r.action) for r in rows(url)[-2:]] == [(6, "first"), (7, "second")]
    assert verify(url).intact


def test_an_audit_rolled_back_with_its_transaction_leaves_no_gap(url: str) -> None:
    with pytest.raises(RuntimeError), write_session(url) as s:
        audit(s, T0 + timedelta(hours=1), ACTOR, "rolled_back", None)
        raise RuntimeError

    with write_session(url) as s:
        audit(s, T0 + timedelta(hours=2), ACTOR, "kept", None)

    assert [(r.seq, r.action) for r in rows(url)[-1:]] == [(6, "kept")]
    assert verify(url).intact


def test_concurrent_transactions_never_fork_the_chain(url: str) -> None:
    threads, each = 6, 8
    errors: list[BaseException] = []
    start = threading.Barrier(threads)

    def work(worker: int) -> None:
        try:
            start.wait()
            for i in range(each):
                with write_session(url) as s:
                    audit(s, T0 + timedelta(hours=1), ACTOR, "concurrent", None, w=worker, i=i)
        except BaseException as exc:  # pragma: no cover - reported below
            errors.append(exc)

    pool = [threading.Thread(target=work, args=(w,)) for w in range(threads)]
    for t in pool:
        t.start()
    for t in pool:
        t.join()

    assert errors == []
    report = verify(url)
    assert (report.intact, report.count) == (True, 5 + threads * each)


# --- the database refuses every manipulation through SQL ------------------------------


def refused(url: str, statement: Any, match: str) -> None:
    before = rows(url)
    with pytest.raises(DBAPIError, match=match):
        execute(url, statement)
    assert rows(url) == before
    assert verify(url).intact


def test_an_update_is_refused(url: str) -> None:
    refused(url, "UPDATE auditevent SET actor = 'jemand.anderes' WHERE seq = 3", "unveränderlich")


def test_a_delete_is_refused(url: str) -> None:
    refused(url, "DELETE FROM auditevent WHERE seq = 5", "unveränderlich")


def test_replacing_a_row_is_refused(url: str) -> None:
    # a correct next link in all but its id, which is row 3's: the insert trigger lets
    # PostgreSQL reach ON CONFLICT, whose UPDATE is refused; SQLite refuses the id
    values = next_row(url, id=rows(url)[2].id, actor="jemand.anderes")
    if dialect(url) == "sqlite":
        statement: Any = insert(AUDIT).prefix_with("OR REPLACE").values(**values)
    else:
        statement = (
            postgresql.insert(AUDIT)
            .values(**values)
            .on_conflict_do_update(index_elements=["id"], set_={"actor": "jemand.anderes"})
        )
    refused(url, statement, "unveränderlich")


def test_replacing_the_last_row_by_its_seq_is_refused_on_sqlite(url: str) -> None:
    if dialect(url) != "sqlite":
        pytest.skip("INSERT OR REPLACE gibt es nur in SQLite")
    last = rows(url)[-1]
    values = next_row(url, seq=last.seq, prev_hash=last.prev_hash, actor="jemand.anderes")
    refused(url, insert(AUDIT).prefix_with("OR REPLACE").values(**values), "außer der Reihe")


def test_truncate_is_refused_on_postgresql(url: str) -> None:
    if dialect(url) != "postgresql":
        pytest.skip("TRUNCATE gibt es nur in PostgreSQL")
    refused(url, "TRUNCATE auditevent", "unveränderlich")


@pytest.mark.parametrize(
    ("change", "match"),
    [
        ({"seq": 7}, "außer der Reihe"),
        ({"seq": 5}, "außer der Reihe"),
        ({"seq": None}, "seq|null"),
        ({"prev_hash": GENESIS}, "nicht verkettet"),
        ({"at": T0 + timedelta(minutes=3)}, "rückdatiert"),
        ({"hash": "nicht-hex"}, "ohne gültigen Hash"),
    ],
    ids=["gap", "repeated seq", "no seq", "wrong prev_hash", "backdated", "no hash"],
)
def test_an_insert_that_is_not_the_next_link_is_refused(
    url: str, change: dict[str, Any], match: str
) -> None:
    refused(url, insert(AUDIT).values(**next_row(url, **change)), match)


def test_a_correct_next_link_inserted_by_hand_is_accepted(url: str) -> None:
    execute(url, insert(AUDIT).values(**next_row(url)))

    assert verify(url).count == 6


# --- verify finds a manipulation behind the triggers' back ----------------------------


def test_a_replaced_actor_is_found_as_a_hash_mismatch_of_that_row(url: str) -> None:
    drop_guards(url)
    third = rows(url)[2]
    execute(url, AUDIT.update().where(AUDIT.c.id == third.id).values(actor="jemand.anderes"))

    report = verify(url)

    assert report.broken == Break(3, third.id, (Flaw.hash,), 3)
    assert (report.count, report.head_seq) == (2, 2)


def test_a_row_inserted_in_the_middle_is_found_at_the_row_after_it(url: str) -> None:
    drop_guards(url)
    chain = rows(url)
    # make room for a forged seq 3 (two steps: the unique index is checked per row)
    execute(
        url,
        AUDIT.update().where(AUDIT.c.seq >= 3).values(seq=-(AUDIT.c.seq + 1)),
        AUDIT.update().where(AUDIT.c.seq < 0).values(seq=-AUDIT.c.seq),
    )
    forged = entry_of(chain[1], seq=3, at=chain[1].at + timedelta(seconds=30), actor="x")
    execute(url, insert(AUDIT).values(**values_of(forged, chain[1].hash)))

    report = verify(url)

    # the forged row itself links correctly: the row after it breaks
    assert report.broken == Break(4, chain[2].id, (Flaw.prev_hash, Flaw.hash), 4)


def test_a_deleted_row_is_found_as_a_gap_at_the_row_after_it(url: str) -> None:
    drop_guards(url)
    chain = rows(url)
    execute(url, AUDIT.delete().where(AUDIT.c.seq == 3))

    report = verify(url)

    assert report.broken == Break(4, chain[3].id, (Flaw.seq_gap, Flaw.prev_hash), 3)


def test_a_backdated_row_is_found_even_when_the_chain_was_recomputed(url: str) -> None:
    drop_guards(url)
    third = rows(url)[2]
    execute(url, AUDIT.update().where(AUDIT.c.id == third.id).values(at=T0 - timedelta(days=1)))

    assert verify(url).broken == Break(3, third.id, (Flaw.hash, Flaw.time), 3)

    rehash_from(url, 3)

    assert verify(url).broken == Break(3, third.id, (Flaw.time,), 3)


def test_a_truncated_tail_or_a_recomputed_chain_is_found_with_an_anchor(url: str) -> None:
    head = rows(url)[-1]
    anchor = (head.seq, head.hash)
    assert verify(url, anchor).intact
    drop_guards(url)
    execute(url, AUDIT.delete().where(AUDIT.c.seq == 5))

    assert verify(url).intact  # the chain alone cannot see a missing tail
    assert verify(url, anchor).broken == Break(5, None, (Flaw.anchor,), 5)

    second = rows(url)[1]
    execute(url, AUDIT.update().where(AUDIT.c.id == second.id).values(actor="jemand.anderes"))
    rehash_from(url, 2)
    fourth = rows(url)[3]

    assert verify(url).intact  # recomputed from row 2 on: consistent in itself
    assert verify(url, (4, head.prev_hash)).broken == Break(4, fourth.id, (Flaw.anchor,), 4)


# --- kel audit verify -----------------------------------------------------------------


def run_cli(url: str, *args: str) -> Any:
    return CliRunner().invoke(cli, ["audit", "verify", *args], env={"KEL_DATABASE_URL": url})


def test_kel_audit_verify_counts_an_intact_chain_and_exits_0(url: str) -> None:
    result = run_cli(url)

    assert result.exit_code == 0, result.output
    assert "Audit-Kette intakt: 5 Einträge geprüft." in result.output
    assert "5:" + rows(url)[-1].hash in result.output.replace("\n", "")


def test_kel_audit_verify_names_the_first_broken_row_and_exits_1(url: str) -> None:
    drop_guards(url)
    third = rows(url)[2]
    execute(url, AUDIT.update().where(AUDIT.c.id == third.id).values(actor="jemand.anderes"))

    result = run_cli(url)

    assert result.exit_code == 1
    assert f"gebrochen bei Eintrag Nr. 3 (id {third.id})" in result.output
    assert "Inhalt verändert" in result.output
    assert "Davor intakt: 2 Einträge." in result.output


def test_kel_audit_verify_checks_an_anchor(url: str) -> None:
    drop_guards(url)
    head = rows(url)[-1]
    execute(url, AUDIT.delete().where(AUDIT.c.seq == 5))

    result = run_cli(url, "--anker", f"{head.seq}:{head.hash}")

    assert result.exit_code == 1
    assert "gebrochen bei Eintrag Nr. 5" in result.output
    assert "Anker stimmt nicht" in result.output
    assert run_cli(url, "--anker", "fünf").exit_code == 2


# --- migration 0007 chains the rows that exist ----------------------------------------


#: auditevent as migrations 0001-0006 left it (no seq, prev_hash, hash)
LEGACY = sa_table(
    "auditevent",
    column("id", Integer()),
    column("at", UTCDateTime()),
    column("actor", String()),
    column("role", String()),
    column("action", String()),
    column("referral_id", Integer()),
    column("detail", JSON()),
)


def legacy_row(at: datetime, action: str) -> Any:
    return insert(LEGACY).values(
        at=at, actor="ifk.aachen", role="caseworker", action=action, detail={"k": "ä"}
    )


def test_the_migration_chains_existing_rows_in_time_order_and_guards_them(blank_url: str) -> None:
    migrate(blank_url, "0006")
    execute(
        blank_url,
        legacy_row(T0 + timedelta(minutes=2), "second"),  # id 1: committed first, later clock
        legacy_row(T0 + timedelta(minutes=1), "first"),  # id 2
        legacy_row(T0 + timedelta(minutes=3), "third"),  # id 3
    )

    migrate(blank_url)

    chain = rows(blank_url)
    assert [(r.seq, r.id, r.action) for r in chain] == [
        (1, 2, "first"),
        (2, 1, "second"),
        (3, 3, "third"),
    ]
    assert chain[0].detail == {"k": "ä"}
    assert verify(blank_url).intact
    refused(blank_url, "UPDATE auditevent SET actor = 'x'", "unveränderlich")
    with write_session(blank_url) as s:
        audit(s, T0 + timedelta(minutes=4), ACTOR, "after", None)
    assert [r.seq for r in rows(blank_url)] == [1, 2, 3, 4]
    assert verify(blank_url).intact


def test_downgrading_0007_keeps_the_append_only_guard(blank_url: str) -> None:
    migrate(blank_url)
    config = alembic_config(blank_url)

    command.downgrade(config, "0006")

    with pytest.raises(DBAPIError, match="unveränderlich"):
        execute(blank_url, legacy_row(T0, "old"), "DELETE FROM auditevent")
    command.upgrade(config, "head")
    assert verify(blank_url).count == 0
