"""pipeline_locks (locks readers cannot take), consumers isolated by row-level security,
an append-only change feed for the writer

Revision ID: 0011
Revises: 0010

* ``pipeline_locks``: one row per lock name (``loaders/locks.py``). A lock is
  ``SELECT … FOR UPDATE`` on its row; that needs UPDATE on the table, which only
  ``s06_pipeline_writer`` gets. The population reader gets nothing here, so it cannot take (and
  stall) a pipeline lock as it could the advisory-lock keys used before. The migrator creates the
  table before its first migration (the migration lock is a row of it), so this revision creates
  it only if missing, and on PostgreSQL a downgrade keeps it (on SQLite it is dropped).
* ``acknowledgements`` and ``feed_cursors``: row-level security keyed on ``current_user``. Each
  consumer of the feed is its own login (a member of ``s06_population_reader``) and its consumer
  id is its login name: it reads and writes only rows whose ``consumer`` is itself. The writer
  role may read them (ledger summaries) but no longer write them; the owner (migrator) and
  superusers are not subject to the policies (views such as ``batch_ledger_acknowledged`` still
  count every consumer's acknowledgements).
* ``change_feed``: the writer keeps SELECT and INSERT; UPDATE and DELETE are revoked
  (append-only).

Hand-written and frozen. Everything but the table is PostgreSQL-only (SQLite has no roles).
"""

from __future__ import annotations

from alembic import op

from loaders.migrations import helpers as h

revision = "0011"
down_revision = "0010"
branch_labels = None
depends_on = None

#: Lock rows that exist from the start (dataset and curated-month rows are added on first use).
LOCK_ROWS = ("change-feed", "migrations")
#: Tables whose rows belong to one consumer: table -> the column naming the consumer.
OWN_ROWS = {"acknowledgements": "consumer", "feed_cursors": "consumer"}
READER_POLICY = "s06_consumer_own_rows"
WRITER_POLICY = "s06_pipeline_reads"


def upgrade() -> None:
    op.execute("CREATE TABLE IF NOT EXISTS pipeline_locks (name TEXT NOT NULL PRIMARY KEY)")
    for name in LOCK_ROWS:
        op.execute(f"INSERT INTO pipeline_locks (name) VALUES ('{name}') ON CONFLICT (name) DO NOTHING")
    if not h.on_postgresql():
        return
    w, r = h.WRITER_ROLE, h.READER_ROLE
    op.execute(f'GRANT SELECT, INSERT, UPDATE ON TABLE pipeline_locks TO "{w}"')
    op.execute(f'REVOKE ALL ON TABLE pipeline_locks FROM "{r}"')
    op.execute(f'REVOKE UPDATE, DELETE, TRUNCATE ON TABLE change_feed FROM "{w}"')
    for table, column in OWN_ROWS.items():
        op.execute(f'REVOKE INSERT, UPDATE, DELETE, TRUNCATE ON TABLE "{table}" FROM "{w}"')
        op.execute(f'ALTER TABLE "{table}" ENABLE ROW LEVEL SECURITY')
        op.execute(f'CREATE POLICY {READER_POLICY} ON "{table}" TO "{r}" '
                   f'USING ("{column}" = current_user) WITH CHECK ("{column}" = current_user)')
        op.execute(f'CREATE POLICY {WRITER_POLICY} ON "{table}" FOR SELECT TO "{w}" USING (true)')


def downgrade() -> None:
    if h.on_postgresql():
        w = h.WRITER_ROLE
        for table in OWN_ROWS:
            op.execute(f'DROP POLICY IF EXISTS {WRITER_POLICY} ON "{table}"')
            op.execute(f'DROP POLICY IF EXISTS {READER_POLICY} ON "{table}"')
            op.execute(f'ALTER TABLE "{table}" DISABLE ROW LEVEL SECURITY')
            op.execute(f'GRANT SELECT, INSERT, UPDATE, DELETE ON TABLE "{table}" TO "{w}"')
        op.execute(f'GRANT UPDATE, DELETE ON TABLE change_feed TO "{w}"')
        # pipeline_locks stays: the migration lock itself is a row of it (like alembic_version,
        # it is the migrator's bookkeeping and outlives downgrades).
        return
    op.execute("DROP TABLE IF EXISTS pipeline_locks")
