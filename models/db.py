"""Database access: engines, sessions and migrations (Alembic) for the system of record.

Two kinds of session (DESIGN §4.2, one serialised path for every state change):

* `session(url)`: reads, and writes that change no case (a transaction begins lazily).
* `write_session(url)`: every transaction that may change a case. On SQLite it begins
  with ``BEGIN IMMEDIATE``, so writers are serialised from their first statement and a
  decision is never taken on a state another writer is about to change; on PostgreSQL
  the referral row is locked with ``SELECT … FOR UPDATE`` (`tasks.repository`).
"""

from __future__ import annotations

import functools
import sqlite3
import threading
from collections.abc import Iterator
from contextlib import AbstractContextManager, contextmanager

from alembic import command
from alembic.config import Config
from sqlalchemy import Connection, Engine, event
from sqlmodel import Session, create_engine

#: Execution option that makes a SQLite transaction begin with ``BEGIN IMMEDIATE``.
WRITE = "kel_write"
#: Seconds a SQLite writer waits for the database (``busy_timeout``, the writer queue).
BUSY_TIMEOUT = 30
_HOLDS_WRITER = "kel_holds_writer_lock"


@functools.cache
def engine(url: str) -> Engine:
    """One engine per database URL (SQLite with foreign keys and WAL, or PostgreSQL)."""
    if url.startswith("sqlite"):
        eng = create_engine(url, connect_args={"check_same_thread": False, "timeout": 30})

        @event.listens_for(eng, "connect")
        def _sqlite_pragmas(conn, _record):  # type: ignore[no-untyped-def]
            conn.isolation_level = None  # we emit BEGIN ourselves (below)
            cursor = conn.cursor()
            cursor.execute("PRAGMA foreign_keys=ON")
            cursor.execute("PRAGMA journal_mode=WAL")
            cursor.execute("PRAGMA busy_timeout=30000")
            cursor.close()

        writer = threading.Lock()

        @event.listens_for(eng, "begin")
        def _sqlite_begin(conn: Connection) -> None:
            immediate = conn.get_execution_options().get(WRITE, False)
            if immediate:
                _take_writer_lock(conn, writer)
            try:
                conn.exec_driver_sql("BEGIN IMMEDIATE" if immediate else "BEGIN")
            except BaseException:
                _release_writer_lock(conn, writer)
                raise

        @event.listens_for(eng, "commit")
        @event.listens_for(eng, "rollback")
        def _sqlite_end(conn: Connection) -> None:
            _release_writer_lock(conn, writer)

        return eng
    return create_engine(url, pool_pre_ping=True, pool_size=10, max_overflow=20)


def _take_writer_lock(conn: Connection, writer: threading.Lock) -> None:
    """Queue this process's SQLite writers on a lock before ``BEGIN IMMEDIATE``.

    SQLite lets one writer in and makes the others poll (busy handler: sleeps of up to
    100 ms), so under load a waiting writer may miss its turn again and again (measured:
    `benchmarks`, 50 clients on one API process: answers after 30 s, "database is
    locked"). Writers of one process wait here instead and are let in as soon as the
    previous one ends; writers of other processes still meet SQLite's busy handler.
    Raises `sqlite3.OperationalError` after the busy timeout, as SQLite would."""
    if not writer.acquire(timeout=BUSY_TIMEOUT):
        raise sqlite3.OperationalError("database is locked (writer queue)")
    conn.info[_HOLDS_WRITER] = True


def _release_writer_lock(conn: Connection, writer: threading.Lock) -> None:
    if conn.info.pop(_HOLDS_WRITER, False):
        writer.release()


@functools.cache
def write_engine(url: str) -> Engine:
    """The engine of `url` whose transactions are serialised writers on SQLite."""
    return engine(url).execution_options(**{WRITE: True})


@contextmanager
def _committing(bind: Engine) -> Iterator[Session]:
    with Session(bind, expire_on_commit=False) as s:
        try:
            yield s
            s.commit()
        except BaseException:
            s.rollback()
            raise


def session(url: str) -> AbstractContextManager[Session]:
    """A session that commits on success and rolls back on error."""
    return _committing(engine(url))


def write_session(url: str) -> AbstractContextManager[Session]:
    """A session for changes of a case: commits on success, rolls back on error; every
    transaction in it is a serialised writer on SQLite (``BEGIN IMMEDIATE``)."""
    return _committing(write_engine(url))


def alembic_config(url: str) -> Config:
    cfg = Config()
    cfg.set_main_option("script_location", "models:migrations")
    cfg.set_main_option("sqlalchemy.url", url.replace("%", "%%"))
    return cfg


def migrate(url: str, revision: str = "head") -> None:
    """Bring the database at `url` to `revision` with Alembic (creates the SQLite file)."""
    command.upgrade(alembic_config(url), revision)


def begin_write(session: Session) -> None:
    """Begin `session`'s transaction as a serialised writer (SQLite ``BEGIN IMMEDIATE``;
    on PostgreSQL a plain transaction, the referral row lock serialises). Call it before
    any other statement of the transaction; a session of `write_session` needs no call."""
    session.connection(execution_options={WRITE: True})
