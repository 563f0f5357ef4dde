"""The audit trail in the database: append a hash-chained row, verify the whole chain.

The chain itself (canonical content, SHA-256) is `models.audit_chain`. Here:

* `append` writes one row as the next link: it reads the last row (``seq``, ``hash``,
  ``at``) and inserts ``seq + 1`` with ``prev_hash`` = that hash. Two transactions must
  never both append after the same row (a fork): on PostgreSQL `append` first takes the
  transaction-scoped advisory lock `AUDIT_LOCK` (held until commit or rollback, so audit
  as late in a transaction as possible); on SQLite a writing transaction that began with
  ``BEGIN IMMEDIATE`` (`models.db.write_session`) holds the database's write lock already.
  Whatever the transaction, the database refuses a fork by itself (unique index on
  ``seq`` and the insert trigger of migration 0007): a deferred SQLite transaction that
  another writer overtook fails ("database is locked") instead of forking.
* `deferred` / `write_deferred`: a transaction that knows where it ends (an API write,
  a batch of the deadline sweep) queues its rows instead and writes them all just before
  its commit: one lock, one read and one insert, and the lock, which serialises every
  writer of the chain, is held only for those and the commit.
* `verify_chain` walks the rows in ``seq`` order and names the first broken one.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import datetime
from enum import StrEnum
from typing import Any, cast

from sqlalchemy import Table, and_, insert, or_, select, text
from sqlmodel import Session

from models.audit_chain import GENESIS, Entry, entry_hash, normalise_detail
from models.tables import AuditEvent

#: Key of the PostgreSQL advisory lock that serialises appends (b"kelaudit" as bigint).
AUDIT_LOCK = int.from_bytes(b"kelaudit", "big")

AUDIT: Table = cast(Table, AuditEvent.__table__)  # type: ignore[attr-defined]


def append(
    session: Session,
    *,
    now: datetime,
    actor: str,
    role: str,
    action: str,
    referral_id: int | None,
    detail: dict[str, Any],
) -> None:
    """Insert one audit row as the next link of the chain, in `session`'s transaction.

    ``at`` is `now`, or the previous row's ``at`` if `now` is earlier (a clock that went
    back, or two processes whose clocks differ by a little): the trail's time never runs
    backwards, which the database checks too. `detail` must be JSON (no NaN/Infinity:
    `ValueError`). Runs one SELECT and one INSERT (plus the lock on PostgreSQL); in a
    `deferred` session nothing yet: the row is queued for `write_deferred`.
    """
    row = _Pending(now, actor, role, action, referral_id, normalise_detail(detail))
    queue = session.info.get(_QUEUE)
    if queue is not None:
        queue.append(row)
        return
    _write(session, [row])


@dataclass(frozen=True)
class _Pending:
    now: datetime
    actor: str
    role: str
    action: str
    referral_id: int | None
    detail: dict[str, Any]


_QUEUE = "kel_audit_queue"


@contextmanager
def deferred(session: Session) -> Iterator[None]:
    """Within the block, `append` queues `session`'s audit rows; call `write_deferred`
    before committing (rows still queued when the block ends are dropped: the caller
    rolled back). Not nested."""
    session.info[_QUEUE] = []
    try:
        yield
    finally:
        session.info.pop(_QUEUE, None)


def queued(session: Session) -> int:
    """How many audit rows `session` has queued (0 outside `deferred`)."""
    return len(session.info.get(_QUEUE) or ())


def drop_queued(session: Session, keep: int) -> None:
    """Drop the rows queued after the first `keep` (their savepoint was rolled back)."""
    queue = session.info.get(_QUEUE)
    if queue is not None:
        del queue[keep:]


def write_deferred(session: Session) -> None:
    """Write the rows `session` has queued, in order, as the next links of the chain:
    one lock (PostgreSQL), one SELECT, one INSERT. Call it right before the commit."""
    queue = session.info.get(_QUEUE)
    if queue:
        _write(session, list(queue))
        queue.clear()


def _write(session: Session, rows: list[_Pending]) -> None:
    if session.connection().dialect.name == "postgresql":
        session.execute(text("SELECT pg_advisory_xact_lock(:key)"), {"key": AUDIT_LOCK})
    last = session.execute(
        select(AUDIT.c.seq, AUDIT.c.hash, AUDIT.c.at).order_by(AUDIT.c.seq.desc()).limit(1)
    ).first()
    seq, prev_hash, at = (0, GENESIS, None) if last is None else (last[0], last[1], last[2])
    values = []
    for row in rows:
        at = row.now if at is None else max(row.now, at)
        seq += 1
        entry = Entry(seq, at, row.actor, row.role, row.action, row.referral_id, row.detail)
        hash_ = entry_hash(prev_hash, entry)
        values.append(
            {
                "seq": seq,
                "prev_hash": prev_hash,
                "hash": hash_,
                "at": at,
                "actor": row.actor,
                "role": row.role,
                "action": row.action,
                "referral_id": row.referral_id,
                "detail": entry.detail,
            }
        )
        prev_hash = hash_
    session.execute(insert(AUDIT), values)


class Flaw(StrEnum):
    """Why a row breaks the chain."""

    seq_gap = "seq_gap"  # seq is not the previous seq + 1 (a row deleted or inserted)
    prev_hash = "prev_hash"  # prev_hash is not the previous row's hash
    hash = "hash"  # the stored hash does not match the row's content
    time = "time"  # at is earlier than the previous row's at (backdated)
    anchor = "anchor"  # the anchor row (seq, hash) given to verify is missing or differs


@dataclass(frozen=True)
class Break:
    """The first broken row: its ``seq`` and ``id`` (None when it is missing) and why."""

    seq: int
    id: int | None
    flaws: tuple[Flaw, ...]
    expected_seq: int

    def reasons(self) -> list[str]:
        """The flaws in German, one sentence each."""
        texts = {
            Flaw.seq_gap: f"Lücke in der Nummernfolge: erwartet Nr. {self.expected_seq}, "
            f"gefunden Nr. {self.seq} (Eintrag gelöscht oder eingefügt).",
            Flaw.prev_hash: "Verkettung gebrochen: prev_hash ist nicht der Hash des "
            "vorigen Eintrags.",
            Flaw.hash: "Inhalt verändert: der gespeicherte Hash passt nicht zum Inhalt.",
            Flaw.time: "Zeit läuft rückwärts: der Zeitpunkt liegt vor dem des vorigen "
            "Eintrags (rückdatiert).",
            Flaw.anchor: "Anker stimmt nicht: der Eintrag fehlt oder hat einen anderen Hash "
            "(Kette gekürzt oder neu berechnet).",
        }
        return [texts[f] for f in self.flaws]


@dataclass(frozen=True)
class ChainReport:
    """Result of `verify_chain`: rows checked, the last intact row, the first break."""

    count: int
    head_seq: int | None
    head_hash: str | None
    broken: Break | None

    @property
    def intact(self) -> bool:
        return self.broken is None


def verify_chain(
    session: Session, *, anchor: tuple[int, str] | None = None, batch: int = 1000
) -> ChainReport:
    """Walk the audit rows in ``seq`` order and return the first broken one, if any.

    Each row is checked against its predecessor in the table: ``seq`` is the previous
    one + 1 (the first row has 1), ``prev_hash`` is the previous ``hash`` (`GENESIS` for
    the first), ``hash`` matches the content, ``at`` is not earlier than the previous
    ``at``. `anchor` (``seq``, ``hash``), noted earlier from a verified head, must still be
    in the chain: without it a truncated tail or a chain recomputed from some row on is
    not detectable (anyone who can write the table can compute SHA-256). Reads in
    batches of `batch` rows; rows appended meanwhile simply extend the walk.
    """
    columns = (AUDIT.c.id, AUDIT.c.seq, AUDIT.c.prev_hash, AUDIT.c.hash, AUDIT.c.at)
    content = (AUDIT.c.actor, AUDIT.c.role, AUDIT.c.action, AUDIT.c.referral_id)
    query = select(*columns, *content, AUDIT.c.detail).order_by(AUDIT.c.seq, AUDIT.c.id)
    count, prev_seq, prev_hash, prev_at, last_id = 0, 0, GENESIS, None, None
    while True:
        page = query.limit(batch)
        if last_id is not None:
            page = page.where(
                or_(AUDIT.c.seq > prev_seq, and_(AUDIT.c.seq == prev_seq, AUDIT.c.id > last_id))
            )
        rows = session.execute(page).all()
        for row in rows:
            flaws = _flaws(row, prev_seq, prev_hash, prev_at)
            if anchor is not None and row.seq == anchor[0] and row.hash != anchor[1]:
                flaws += (Flaw.anchor,)
            if flaws:
                broken = Break(row.seq, row.id, flaws, prev_seq + 1)
                return ChainReport(count, prev_seq or None, _head(prev_seq, prev_hash), broken)
            count += 1
            prev_seq, prev_hash, prev_at, last_id = row.seq, row.hash, row.at, row.id
        if len(rows) < batch:
            break
    if anchor is not None and anchor[0] > prev_seq:
        broken = Break(anchor[0], None, (Flaw.anchor,), prev_seq + 1)
        return ChainReport(count, prev_seq or None, _head(prev_seq, prev_hash), broken)
    return ChainReport(count, prev_seq or None, _head(prev_seq, prev_hash), None)


def _head(seq: int, hash_: str) -> str | None:
    return hash_ if seq else None


def _flaws(row: Any, prev_seq: int, prev_hash: str, prev_at: datetime | None) -> tuple[Flaw, ...]:
    flaws: list[Flaw] = []
    if row.seq != prev_seq + 1:
        flaws.append(Flaw.seq_gap)
    if row.prev_hash != prev_hash:
        flaws.append(Flaw.prev_hash)
    try:
        entry = Entry(row.seq, row.at, row.actor, row.role, row.action, row.referral_id, row.detail)
        matches = entry_hash(row.prev_hash or "", entry) == row.hash
    except (TypeError, ValueError):  # content JSON cannot hold: not written by `append`
        matches = False
    if not matches:
        flaws.append(Flaw.hash)
    if prev_at is not None and row.at < prev_at:
        flaws.append(Flaw.time)
    return tuple(flaws)
