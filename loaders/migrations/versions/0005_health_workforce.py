"""health_workforce: current and versions tables, indexes, history view, grants.

Revision ID: 0005
Revises: 0004
Create Date: 2026-11-26 16:46:48

Frozen: rendered by ``python -m loaders.migrate new-dataset health_workforce``
from the contract config/datasets/health_workforce.yaml as it was then.
Never edit it to follow a later contract change: add a revision with
``python -m loaders.migrate autogenerate "<what changed>"``.
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

from loaders.migrations import helpers as h

revision = '0005'
down_revision = '0004'
branch_labels = None
depends_on = None

#: The dataset whose tables this revision creates.
DATASET = 'health_workforce'
#: Its stored columns, in table order (also the columns of the history view).
COLUMNS = (
    'personal_id',
    'full_name',
    'birth_date',
    'sex',
    'title',
    'licence_number',
    'licence_issuer',
    'licence_issue_date',
    'scope_of_practice',
    'practice_facility_code',
    'period_start',
    'period_end',
    'last_change_date',
    'facility_code',
    'source_format',
    'spec_version',
    'source_file',
    'source_ref',
    'batch_id',
    'record_hash',
    'version_key',
)
#: What this revision creates (checked when a store created before migrations is adopted).
TABLES = {'health_workforce': COLUMNS, 'health_workforce_versions': COLUMNS}

_SELECT = ", ".join(f'"{c}"' for c in COLUMNS)
#: Every version ever received: the current one (``is_current`` 1) and the earlier ones.
HISTORY_VIEW = (
    f'CREATE VIEW "health_workforce_history" AS SELECT {_SELECT}, 1 AS is_current FROM "health_workforce" '
    f'UNION ALL SELECT {_SELECT}, 0 AS is_current FROM "health_workforce_versions"'
)
#: view -> its CREATE statement (adoption recreates a view that a pre-migration store lacks).
VIEWS = {'health_workforce_history': HISTORY_VIEW}


def upgrade() -> None:
    if not h.adopting():
        op.create_table('health_workforce',
        sa.Column('personal_id', sa.Text(), nullable=True),
        sa.Column('full_name', sa.Text(), nullable=True),
        sa.Column('birth_date', sa.Date(), nullable=True),
        sa.Column('sex', sa.Integer(), nullable=True),
        sa.Column('title', sa.Text(), nullable=True),
        sa.Column('licence_number', sa.Text(), nullable=False),
        sa.Column('licence_issuer', sa.Text(), nullable=False),
        sa.Column('licence_issue_date', sa.Date(), nullable=True),
        sa.Column('scope_of_practice', sa.Text(), nullable=True),
        sa.Column('practice_facility_code', sa.Text(), nullable=False),
        sa.Column('period_start', sa.Date(), nullable=True),
        sa.Column('period_end', sa.Date(), nullable=True),
        sa.Column('last_change_date', sa.Date(), nullable=True),
        sa.Column('facility_code', sa.Text(), nullable=True),
        sa.Column('source_format', sa.Text(), nullable=True),
        sa.Column('spec_version', sa.Text(), nullable=True),
        sa.Column('source_file', sa.Text(), nullable=True),
        sa.Column('source_ref', sa.Text(), nullable=True),
        sa.Column('batch_id', sa.Text(), nullable=True),
        sa.Column('record_hash', sa.Text(), nullable=True),
        sa.Column('version_key', sa.Text(), nullable=True),
        sa.PrimaryKeyConstraint('licence_number', 'licence_issuer', 'practice_facility_code')
        )
        op.create_index('ix_health_workforce_batch', 'health_workforce', ['batch_id'], unique=False)
        op.create_index('ix_health_workforce_event', 'health_workforce', ['last_change_date'], unique=False)
        op.create_table('health_workforce_versions',
        sa.Column('personal_id', sa.Text(), nullable=True),
        sa.Column('full_name', sa.Text(), nullable=True),
        sa.Column('birth_date', sa.Date(), nullable=True),
        sa.Column('sex', sa.Integer(), nullable=True),
        sa.Column('title', sa.Text(), nullable=True),
        sa.Column('licence_number', sa.Text(), nullable=False),
        sa.Column('licence_issuer', sa.Text(), nullable=False),
        sa.Column('licence_issue_date', sa.Date(), nullable=True),
        sa.Column('scope_of_practice', sa.Text(), nullable=True),
        sa.Column('practice_facility_code', sa.Text(), nullable=False),
        sa.Column('period_start', sa.Date(), nullable=True),
        sa.Column('period_end', sa.Date(), nullable=True),
        sa.Column('last_change_date', sa.Date(), nullable=True),
        sa.Column('facility_code', sa.Text(), nullable=True),
        sa.Column('source_format', sa.Text(), nullable=True),
        sa.Column('spec_version', sa.Text(), nullable=True),
        sa.Column('source_file', sa.Text(), nullable=True),
        sa.Column('source_ref', sa.Text(), nullable=True),
        sa.Column('batch_id', sa.Text(), nullable=True),
        sa.Column('record_hash', sa.Text(), nullable=False),
        sa.Column('version_key', sa.Text(), nullable=True),
        sa.PrimaryKeyConstraint('licence_number', 'licence_issuer', 'practice_facility_code', 'record_hash')
        )
        op.execute(HISTORY_VIEW)
    # Privileges (PostgreSQL only; see loaders/migrations/helpers.py for the roles).
    h.grant("SELECT, INSERT, UPDATE, DELETE", ['health_workforce', 'health_workforce_versions'], h.WRITER_ROLE)
    h.grant("SELECT", ['health_workforce_history'], h.WRITER_ROLE)
    h.grant("SELECT", ['health_workforce', 'health_workforce_history'], h.READER_ROLE)


def downgrade() -> None:
    op.execute('DROP VIEW "health_workforce_history"')
    op.drop_table('health_workforce_versions')
    op.drop_table('health_workforce')
