"""batch_ledger: the batch's night, and its input fingerprint (identical re-runs are skipped)

Revision ID: 0009
Revises: 0008

A batch records a fingerprint of what it was given: the checksums of its landed files, the
facility's registry entry, the contract and code version, the reference data and the settings
that decide its outcome. A re-run whose fingerprint equals the recorded one of a completed batch
can prove it would change nothing, and skips reading, validating and loading. Hand-written and
frozen.

The night (the local date of the interval, also the last ten characters of the batch id) gets a
column and an index, so the curated publish can find one night's batches without scanning the
ledger; existing rows are filled from their batch ids.
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0009"
down_revision = "0008"
branch_labels = None
depends_on = None

VIEW = "batch_ledger_acknowledged"


def upgrade() -> None:
    op.execute(f'DROP VIEW IF EXISTS "{VIEW}"')
    with op.batch_alter_table("batch_ledger") as batch:
        batch.add_column(sa.Column("input_fingerprint", sa.Text(), nullable=True))
        batch.add_column(sa.Column("night", sa.Text(), nullable=True))
    op.execute("UPDATE batch_ledger SET night = substr(batch_id, length(batch_id) - 9) WHERE night IS NULL")
    op.create_index("ix_batch_ledger_night", "batch_ledger", ["dataset", "night"], unique=False)
    _recreate_view()


def downgrade() -> None:
    op.execute(f'DROP VIEW IF EXISTS "{VIEW}"')
    op.drop_index("ix_batch_ledger_night", table_name="batch_ledger")
    with op.batch_alter_table("batch_ledger") as batch:
        batch.drop_column("night")
        batch.drop_column("input_fingerprint")
    _recreate_view()


def _recreate_view() -> None:
    import importlib

    recreate = importlib.import_module("loaders.migrations.versions.0008_ledger_source_facts")._recreate_view
    recreate()
