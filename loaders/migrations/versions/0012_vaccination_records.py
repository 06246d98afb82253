"""vaccination_records: current and versions tables, indexes, history view, grants.

Revision ID: 0012
Revises: 0011
Create Date: 2026-11-30 20:34:46

Frozen: rendered by ``python -m loaders.migrate new-dataset vaccination_records``
from the contract config/datasets/vaccination_records.yaml as it was then.
Never edit it to follow a later contract change: add a revision with
``python -m loaders.migrate autogenerate "<what changed>"``.
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

from loaders.migrations import helpers as h

revision = '0012'
down_revision = '0011'
branch_labels = None
depends_on = None

#: The dataset whose tables this revision creates.
DATASET = 'vaccination_records'
#: Its stored columns, in table order (also the columns of the history view).
COLUMNS = (
    'immunization_id',
    'source_system',
    'last_updated',
    'status',
    'status_reason',
    'vaccine_code',
    'vaccine_code_system',
    'antigen',
    'programme_type',
    'dose_number',
    'series_doses',
    'series',
    'occurrence_datetime',
    'lot_number',
    'lot_expiry_date',
    'performer_facility_code',
    'funding_source',
    'patient_reference',
    'patient_in_export',
    'personal_id',
    'birth_date',
    'sex',
    'residence_province_code',
    'age_at_dose_days',
    'facility_code',
    'source_format',
    'spec_version',
    'source_file',
    'source_ref',
    'batch_id',
    'record_hash',
    'version_key',
    'record_status',
)
#: What this revision creates (checked when a store created before migrations is adopted).
TABLES = {'vaccination_records': COLUMNS, 'vaccination_records_versions': COLUMNS}

_SELECT = ", ".join(f'"{c}"' for c in COLUMNS)
#: Every version ever received: the current one (``is_current`` 1) and the earlier ones.
HISTORY_VIEW = (
    f'CREATE VIEW "vaccination_records_history" AS SELECT {_SELECT}, 1 AS is_current FROM "vaccination_records" '
    f'UNION ALL SELECT {_SELECT}, 0 AS is_current FROM "vaccination_records_versions"'
)
#: view -> its CREATE statement (adoption recreates a view that a pre-migration store lacks).
VIEWS = {'vaccination_records_history': HISTORY_VIEW}


def upgrade() -> None:
    if not h.adopting():
        op.create_table('vaccination_records',
        sa.Column('immunization_id', sa.Text(), nullable=False),
        sa.Column('source_system', sa.Text(), nullable=False),
        sa.Column('last_updated', sa.DateTime(), nullable=True),
        sa.Column('status', sa.Text(), nullable=True),
        sa.Column('status_reason', sa.Text(), nullable=True),
        sa.Column('vaccine_code', sa.Text(), nullable=True),
        sa.Column('vaccine_code_system', sa.Text(), nullable=True),
        sa.Column('antigen', sa.Text(), nullable=True),
        sa.Column('programme_type', sa.Text(), nullable=True),
        sa.Column('dose_number', sa.Integer(), nullable=True),
        sa.Column('series_doses', sa.Integer(), nullable=True),
        sa.Column('series', sa.Text(), nullable=True),
        sa.Column('occurrence_datetime', sa.DateTime(), nullable=True),
        sa.Column('lot_number', sa.Text(), nullable=True),
        sa.Column('lot_expiry_date', sa.Date(), nullable=True),
        sa.Column('performer_facility_code', sa.Text(), nullable=True),
        sa.Column('funding_source', sa.Text(), nullable=True),
        sa.Column('patient_reference', sa.Text(), nullable=True),
        sa.Column('patient_in_export', sa.Boolean(), nullable=True),
        sa.Column('personal_id', sa.Text(), nullable=True),
        sa.Column('birth_date', sa.Date(), nullable=True),
        sa.Column('sex', sa.Integer(), nullable=True),
        sa.Column('residence_province_code', sa.Text(), nullable=True),
        sa.Column('age_at_dose_days', sa.Integer(), nullable=True),
        sa.Column('facility_code', sa.Text(), nullable=True),
        sa.Column('source_format', sa.Text(), nullable=True),
        sa.Column('spec_version', sa.Text(), nullable=True),
        sa.Column('source_file', sa.Text(), nullable=True),
        sa.Column('source_ref', sa.Text(), nullable=True),
        sa.Column('batch_id', sa.Text(), nullable=True),
        sa.Column('record_hash', sa.Text(), nullable=True),
        sa.Column('version_key', sa.Text(), nullable=True),
        sa.Column('record_status', sa.Text(), nullable=True),
        sa.PrimaryKeyConstraint('immunization_id', 'source_system')
        )
        op.create_index('ix_vaccination_records_batch', 'vaccination_records', ['batch_id'], unique=False)
        op.create_index('ix_vaccination_records_event', 'vaccination_records', ['occurrence_datetime'], unique=False)
        op.create_table('vaccination_records_versions',
        sa.Column('immunization_id', sa.Text(), nullable=False),
        sa.Column('source_system', sa.Text(), nullable=False),
        sa.Column('last_updated', sa.DateTime(), nullable=True),
        sa.Column('status', sa.Text(), nullable=True),
        sa.Column('status_reason', sa.Text(), nullable=True),
        sa.Column('vaccine_code', sa.Text(), nullable=True),
        sa.Column('vaccine_code_system', sa.Text(), nullable=True),
        sa.Column('antigen', sa.Text(), nullable=True),
        sa.Column('programme_type', sa.Text(), nullable=True),
        sa.Column('dose_number', sa.Integer(), nullable=True),
        sa.Column('series_doses', sa.Integer(), nullable=True),
        sa.Column('series', sa.Text(), nullable=True),
        sa.Column('occurrence_datetime', sa.DateTime(), nullable=True),
        sa.Column('lot_number', sa.Text(), nullable=True),
        sa.Column('lot_expiry_date', sa.Date(), nullable=True),
        sa.Column('performer_facility_code', sa.Text(), nullable=True),
        sa.Column('funding_source', sa.Text(), nullable=True),
        sa.Column('patient_reference', sa.Text(), nullable=True),
        sa.Column('patient_in_export', sa.Boolean(), nullable=True),
        sa.Column('personal_id', sa.Text(), nullable=True),
        sa.Column('birth_date', sa.Date(), nullable=True),
        sa.Column('sex', sa.Integer(), nullable=True),
        sa.Column('residence_province_code', sa.Text(), nullable=True),
        sa.Column('age_at_dose_days', sa.Integer(), nullable=True),
        sa.Column('facility_code', sa.Text(), nullable=True),
        sa.Column('source_format', sa.Text(), nullable=True),
        sa.Column('spec_version', sa.Text(), nullable=True),
        sa.Column('source_file', sa.Text(), nullable=True),
        sa.Column('source_ref', sa.Text(), nullable=True),
        sa.Column('batch_id', sa.Text(), nullable=True),
        sa.Column('record_hash', sa.Text(), nullable=False),
        sa.Column('version_key', sa.Text(), nullable=True),
        sa.Column('record_status', sa.Text(), nullable=True),
        sa.PrimaryKeyConstraint('immunization_id', 'source_system', 'record_hash')
        )
        op.execute(HISTORY_VIEW)
    # Privileges (PostgreSQL only; see loaders/migrations/helpers.py for the roles).
    h.grant("SELECT, INSERT, UPDATE, DELETE", ['vaccination_records', 'vaccination_records_versions'], h.WRITER_ROLE)
    h.grant("SELECT", ['vaccination_records_history'], h.WRITER_ROLE)
    h.grant("SELECT", ['vaccination_records', 'vaccination_records_history'], h.READER_ROLE)


def downgrade() -> None:
    op.execute('DROP VIEW "vaccination_records_history"')
    op.drop_table('vaccination_records_versions')
    op.drop_table('vaccination_records')
