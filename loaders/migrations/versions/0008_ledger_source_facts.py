"""batch_ledger: source kind, extraction facts and the SQL high-water mark

Revision ID: 0008
Revises: 0007

Facility connectors (REST APIs, SQL databases) record how a batch was extracted: the source
kind, facts such as pages, attempts and rows (never content or credentials), and for SQL sources
the largest cursor value read. Stores created before the connectors (revision 0001's ledger)
gain the three nullable columns. Hand-written and frozen.
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0008"
down_revision = "0007"
branch_labels = None
depends_on = None

COLUMNS = ("source_kind", "source_facts", "high_water_mark")
VIEW = "batch_ledger_acknowledged"


def upgrade() -> None:
    # SQLite's batch mode rebuilds the table; the view over it must not exist meanwhile.
    op.execute(f'DROP VIEW IF EXISTS "{VIEW}"')
    with op.batch_alter_table("batch_ledger") as batch:
        for name in COLUMNS:
            batch.add_column(sa.Column(name, sa.Text(), nullable=True))
    _recreate_view()


def downgrade() -> None:
    op.execute(f'DROP VIEW IF EXISTS "{VIEW}"')
    with op.batch_alter_table("batch_ledger") as batch:
        for name in reversed(COLUMNS):
            batch.drop_column(name)
    _recreate_view()


def _recreate_view() -> None:
    import importlib

    from loaders.migrations import helpers as h

    acknowledged = importlib.import_module("loaders.migrations.versions.0007_ledger_acknowledged_view")
    op.execute(f'CREATE VIEW "{VIEW}" AS {acknowledged.BODY}')
    if h.on_postgresql():
        h.grant("SELECT", [VIEW], h.READER_ROLE)
        h.grant("SELECT", [VIEW], h.WRITER_ROLE)
