"""audit hash chain

Revision ID: 0007
Revises: 0006
Create Date: 2026-11-25

Every audit row gets ``seq`` (1, 2, 3, … unique), ``prev_hash`` and ``hash``
(`models.audit_chain`). Existing rows are chained in the order of (``at``, ``id``), so
the chain's time never runs backwards (rows of two processes could be committed in an
``id`` order that differs from their clocks by a little); their content is unchanged.

The append-only triggers of 0001 (UPDATE, DELETE) are dropped for the backfill and
recreated stronger: an INSERT must be the chain's next link (``seq`` = last + 1,
``prev_hash`` = last ``hash``, ``at`` not before the last ``at``, an ``id`` not in use,
which also closes SQLite's ``INSERT OR REPLACE``); PostgreSQL also refuses TRUNCATE and
serialises inserts with the advisory lock of `tasks.audit_trail.AUDIT_LOCK`.
"""

from collections.abc import Sequence

import sqlalchemy as sa
import sqlmodel
from alembic import op

import models.tables
from models.audit_chain import GENESIS, Entry, entry_hash

revision: str = '0007'
down_revision: str | None = '0006'
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

APPEND_ONLY = "Das Audit-Protokoll ist unveränderlich (nur Anfügen)."
OUT_OF_ORDER = "Audit-Eintrag außer der Reihe: seq ist nicht die nächste Nummer."
UNCHAINED = "Audit-Eintrag nicht verkettet: prev_hash ist nicht der Hash des letzten Eintrags."
BACKDATED = "Audit-Eintrag rückdatiert: Zeitpunkt vor dem des letzten Eintrags."
NO_HASH = "Audit-Eintrag ohne gültigen Hash (64 Hex-Zeichen)."
AUDIT_LOCK = int.from_bytes(b"kelaudit", "big")  # = tasks.audit_trail.AUDIT_LOCK

BATCH = 5000


def upgrade() -> None:
    sqlite = op.get_bind().dialect.name == "sqlite"
    _drop_0001_triggers(sqlite)
    with op.batch_alter_table('auditevent', schema=None) as batch_op:
        batch_op.add_column(sa.Column('seq', sa.Integer(), nullable=True))
        batch_op.add_column(sa.Column('prev_hash', sqlmodel.sql.sqltypes.AutoString(), nullable=True))
        batch_op.add_column(sa.Column('hash', sqlmodel.sql.sqltypes.AutoString(), nullable=True))
    _backfill()
    with op.batch_alter_table('auditevent', schema=None) as batch_op:
        batch_op.alter_column('seq', existing_type=sa.Integer(), nullable=False)
        batch_op.alter_column('prev_hash', existing_type=sqlmodel.sql.sqltypes.AutoString(), nullable=False)
        batch_op.alter_column('hash', existing_type=sqlmodel.sql.sqltypes.AutoString(), nullable=False)
        batch_op.create_index(batch_op.f('ix_auditevent_seq'), ['seq'], unique=True)
    if sqlite:
        _sqlite_triggers()
    else:
        _postgresql_triggers()


def downgrade() -> None:
    sqlite = op.get_bind().dialect.name == "sqlite"
    if sqlite:
        for name in ("auditevent_chain", "auditevent_no_update", "auditevent_no_delete"):
            op.execute(f"DROP TRIGGER IF EXISTS {name}")
    else:
        op.execute("DROP TRIGGER IF EXISTS auditevent_chain ON auditevent")
        op.execute("DROP TRIGGER IF EXISTS auditevent_no_truncate ON auditevent")
        op.execute("DROP FUNCTION IF EXISTS auditevent_chain()")
    with op.batch_alter_table('auditevent', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_auditevent_seq'))
        batch_op.drop_column('hash')
        batch_op.drop_column('prev_hash')
        batch_op.drop_column('seq')
    if sqlite:  # the 0001 triggers again (PostgreSQL kept auditevent_append_only)
        for verb in ("UPDATE", "DELETE"):
            op.execute(
                f"CREATE TRIGGER auditevent_no_{verb.lower()} BEFORE {verb} ON auditevent "
                f"BEGIN SELECT RAISE(ABORT, '{APPEND_ONLY}'); END"
            )


def _drop_0001_triggers(sqlite: bool) -> None:
    if sqlite:
        op.execute("DROP TRIGGER IF EXISTS auditevent_no_update")
        op.execute("DROP TRIGGER IF EXISTS auditevent_no_delete")
    else:
        op.execute("DROP TRIGGER IF EXISTS auditevent_append_only ON auditevent")
        op.execute("DROP FUNCTION IF EXISTS auditevent_append_only()")


def _backfill() -> None:
    """Chain the existing rows in (at, id) order, in batches of `BATCH` rows."""
    audit = sa.table(
        'auditevent',
        sa.column('id', sa.Integer()),
        sa.column('at', models.tables.UTCDateTime()),
        sa.column('actor', sa.String()),
        sa.column('role', sa.String()),
        sa.column('action', sa.String()),
        sa.column('referral_id', sa.Integer()),
        sa.column('detail', sa.JSON()),
        sa.column('seq', sa.Integer()),
        sa.column('prev_hash', sa.String()),
        sa.column('hash', sa.String()),
    )
    c = audit.c
    bind = op.get_bind()
    read = sa.select(c.id, c.at, c.actor, c.role, c.action, c.referral_id, c.detail)
    write = (
        sa.update(audit)
        .where(c.id == sa.bindparam('row_id'))
        .values(seq=sa.bindparam('new_seq'), prev_hash=sa.bindparam('new_prev'), hash=sa.bindparam('new_hash'))
    )
    seq, prev_hash, last = 0, GENESIS, None
    while True:
        query = read.order_by(c.at, c.id).limit(BATCH)
        if last is not None:
            query = query.where(sa.or_(c.at > last[0], sa.and_(c.at == last[0], c.id > last[1])))
        rows = bind.execute(query).all()
        if not rows:
            return
        params = []
        for row in rows:
            seq += 1
            entry = Entry(seq, row.at, row.actor, row.role, row.action, row.referral_id, row.detail)
            digest = entry_hash(prev_hash, entry)
            params.append({'row_id': row.id, 'new_seq': seq, 'new_prev': prev_hash, 'new_hash': digest})
            prev_hash = digest
        bind.execute(write, params)
        last = (rows[-1].at, rows[-1].id)


def _sqlite_triggers() -> None:
    for verb in ("UPDATE", "DELETE"):
        op.execute(
            f"CREATE TRIGGER auditevent_no_{verb.lower()} BEFORE {verb} ON auditevent "
            f"BEGIN SELECT RAISE(ABORT, '{APPEND_ONLY}'); END"
        )
    # BEFORE INSERT fires before SQLite resolves a REPLACE conflict, so an
    # INSERT OR REPLACE of an existing id (or seq) is refused here.
    op.execute(
        f"""
        CREATE TRIGGER auditevent_chain BEFORE INSERT ON auditevent
        BEGIN
            SELECT RAISE(ABORT, '{APPEND_ONLY}')
            WHERE EXISTS (SELECT 1 FROM auditevent WHERE id = NEW.id);
            SELECT RAISE(ABORT, '{OUT_OF_ORDER}')
            WHERE NEW.seq IS NOT (SELECT COALESCE(MAX(seq), 0) + 1 FROM auditevent);
            SELECT RAISE(ABORT, '{UNCHAINED}')
            WHERE NEW.prev_hash IS NOT COALESCE(
                (SELECT hash FROM auditevent ORDER BY seq DESC LIMIT 1), '{GENESIS}');
            SELECT RAISE(ABORT, '{BACKDATED}')
            WHERE NEW.at < (SELECT at FROM auditevent ORDER BY seq DESC LIMIT 1);
            SELECT RAISE(ABORT, '{NO_HASH}')
            WHERE NEW.hash IS NULL OR length(NEW.hash) <> 64 OR NEW.hash GLOB '*[^0-9a-f]*';
        END
        """
    )


def _postgresql_triggers() -> None:
    op.execute(
        "CREATE FUNCTION auditevent_append_only() RETURNS trigger LANGUAGE plpgsql AS "
        f"$$ BEGIN RAISE EXCEPTION '{APPEND_ONLY}'; END $$"
    )
    op.execute(
        "CREATE TRIGGER auditevent_append_only BEFORE UPDATE OR DELETE ON auditevent "
        "FOR EACH ROW EXECUTE FUNCTION auditevent_append_only()"
    )
    op.execute(
        "CREATE TRIGGER auditevent_no_truncate BEFORE TRUNCATE ON auditevent "
        "FOR EACH STATEMENT EXECUTE FUNCTION auditevent_append_only()"
    )
    op.execute(
        f"""
        CREATE FUNCTION auditevent_chain() RETURNS trigger LANGUAGE plpgsql AS $$
        DECLARE
            last_seq integer;
            last_hash text;
            last_at timestamptz;
        BEGIN
            PERFORM pg_advisory_xact_lock({AUDIT_LOCK});
            SELECT seq, hash, at INTO last_seq, last_hash, last_at
              FROM auditevent ORDER BY seq DESC LIMIT 1;
            IF NEW.seq IS DISTINCT FROM COALESCE(last_seq, 0) + 1 THEN
                RAISE EXCEPTION '{OUT_OF_ORDER}' USING ERRCODE = 'check_violation';
            END IF;
            IF NEW.prev_hash IS DISTINCT FROM COALESCE(last_hash, '{GENESIS}') THEN
                RAISE EXCEPTION '{UNCHAINED}' USING ERRCODE = 'check_violation';
            END IF;
            IF NEW.at < last_at THEN
                RAISE EXCEPTION '{BACKDATED}' USING ERRCODE = 'check_violation';
            END IF;
            IF NEW.hash IS NULL OR NEW.hash !~ '^[0-9a-f]{{64}}$' THEN
                RAISE EXCEPTION '{NO_HASH}' USING ERRCODE = 'check_violation';
            END IF;
            RETURN NEW;
        END $$
        """
    )
    op.execute(
        "CREATE TRIGGER auditevent_chain BEFORE INSERT ON auditevent "
        "FOR EACH ROW EXECUTE FUNCTION auditevent_chain()"
    )
