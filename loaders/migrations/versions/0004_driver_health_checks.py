"""driver_health_checks: current and versions tables, indexes, history view, grants.

Revision ID: 0004
Revises: 0003
Create Date: 2026-11-26 16:46:47

Frozen: rendered by ``python -m loaders.migrate new-dataset driver_health_checks``
from the contract config/datasets/driver_health_checks.yaml as it was then.
Never edit it to follow a later contract change: add a revision with
``python -m loaders.migrate autogenerate "<what changed>"``.
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

from loaders.migrations import helpers as h

revision = '0004'
down_revision = '0003'
branch_labels = None
depends_on = None

#: The dataset whose tables this revision creates.
DATASET = 'driver_health_checks'
#: Its stored columns, in table order (also the columns of the history view).
COLUMNS = (
    'certificate_number',
    'full_name',
    'sex',
    'birth_date',
    'address',
    'residence_province_code',
    'residence_commune_code',
    'id_number',
    'id_issue_date',
    'id_issue_place',
    'issuing_facility_code',
    'issuing_facility_name',
    'exam_date',
    'alcohol_level',
    'alcohol_unit',
    'drug_test_result',
    'conclusion_date',
    'concluding_doctor',
    'conclusion_code',
    'licence_class',
    'licence_class_mapped',
    'reexam_date',
    'exam_reason',
    'health_condition',
    'state',
    'valid_until',
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
TABLES = {'driver_health_checks': COLUMNS, 'driver_health_checks_versions': COLUMNS}

_SELECT = ", ".join(f'"{c}"' for c in COLUMNS)
#: Every version ever received: the current one (``is_current`` 1) and the earlier ones.
HISTORY_VIEW = (
    f'CREATE VIEW "driver_health_checks_history" AS SELECT {_SELECT}, 1 AS is_current FROM "driver_health_checks" '
    f'UNION ALL SELECT {_SELECT}, 0 AS is_current FROM "driver_health_checks_versions"'
)
#: view -> its CREATE statement (adoption recreates a view that a pre-migration store lacks).
VIEWS = {'driver_health_checks_history': HISTORY_VIEW}


def upgrade() -> None:
    if not h.adopting():
        op.create_table('driver_health_checks',
        sa.Column('certificate_number', sa.Text(), nullable=False),
        sa.Column('full_name', sa.Text(), nullable=True),
        sa.Column('sex', sa.Integer(), nullable=True),
        sa.Column('birth_date', sa.Date(), nullable=True),
        sa.Column('address', sa.Text(), nullable=True),
        sa.Column('residence_province_code', sa.Text(), nullable=True),
        sa.Column('residence_commune_code', sa.Text(), nullable=True),
        sa.Column('id_number', sa.Text(), nullable=True),
        sa.Column('id_issue_date', sa.Date(), nullable=True),
        sa.Column('id_issue_place', sa.Text(), nullable=True),
        sa.Column('issuing_facility_code', sa.Text(), nullable=True),
        sa.Column('issuing_facility_name', sa.Text(), nullable=True),
        sa.Column('exam_date', sa.Date(), nullable=True),
        sa.Column('alcohol_level', sa.Text(), nullable=True),
        sa.Column('alcohol_unit', sa.Text(), nullable=True),
        sa.Column('drug_test_result', sa.Integer(), nullable=True),
        sa.Column('conclusion_date', sa.Date(), nullable=True),
        sa.Column('concluding_doctor', sa.Text(), nullable=True),
        sa.Column('conclusion_code', sa.Text(), nullable=True),
        sa.Column('licence_class', sa.Text(), nullable=False),
        sa.Column('licence_class_mapped', sa.Text(), nullable=True),
        sa.Column('reexam_date', sa.Date(), nullable=True),
        sa.Column('exam_reason', sa.Text(), nullable=True),
        sa.Column('health_condition', sa.Text(), nullable=True),
        sa.Column('state', sa.Text(), nullable=True),
        sa.Column('valid_until', sa.Date(), nullable=True),
        sa.Column('facility_code', sa.Text(), nullable=True),
        sa.Column('source_format', sa.Text(), nullable=True),
        sa.Column('spec_version', sa.Text(), nullable=True),
        sa.Column('source_file', sa.Text(), nullable=True),
        sa.Column('source_ref', sa.Text(), nullable=True),
        sa.Column('batch_id', sa.Text(), nullable=True),
        sa.Column('record_hash', sa.Text(), nullable=True),
        sa.Column('version_key', sa.Text(), nullable=True),
        sa.PrimaryKeyConstraint('certificate_number', 'licence_class')
        )
        op.create_index('ix_driver_health_checks_batch', 'driver_health_checks', ['batch_id'], unique=False)
        op.create_index('ix_driver_health_checks_event', 'driver_health_checks', ['conclusion_date'], unique=False)
        op.create_table('driver_health_checks_versions',
        sa.Column('certificate_number', sa.Text(), nullable=False),
        sa.Column('full_name', sa.Text(), nullable=True),
        sa.Column('sex', sa.Integer(), nullable=True),
        sa.Column('birth_date', sa.Date(), nullable=True),
        sa.Column('address', sa.Text(), nullable=True),
        sa.Column('residence_province_code', sa.Text(), nullable=True),
        sa.Column('residence_commune_code', sa.Text(), nullable=True),
        sa.Column('id_number', sa.Text(), nullable=True),
        sa.Column('id_issue_date', sa.Date(), nullable=True),
        sa.Column('id_issue_place', sa.Text(), nullable=True),
        sa.Column('issuing_facility_code', sa.Text(), nullable=True),
        sa.Column('issuing_facility_name', sa.Text(), nullable=True),
        sa.Column('exam_date', sa.Date(), nullable=True),
        sa.Column('alcohol_level', sa.Text(), nullable=True),
        sa.Column('alcohol_unit', sa.Text(), nullable=True),
        sa.Column('drug_test_result', sa.Integer(), nullable=True),
        sa.Column('conclusion_date', sa.Date(), nullable=True),
        sa.Column('concluding_doctor', sa.Text(), nullable=True),
        sa.Column('conclusion_code', sa.Text(), nullable=True),
        sa.Column('licence_class', sa.Text(), nullable=False),
        sa.Column('licence_class_mapped', sa.Text(), nullable=True),
        sa.Column('reexam_date', sa.Date(), nullable=True),
        sa.Column('exam_reason', sa.Text(), nullable=True),
        sa.Column('health_condition', sa.Text(), nullable=True),
        sa.Column('state', sa.Text(), nullable=True),
        sa.Column('valid_until', sa.Date(), nullable=True),
        sa.Column('facility_code', sa.Text(), nullable=True),
        sa.Column('source_format', sa.Text(), nullable=True),
        sa.Column('spec_version', sa.Text(), nullable=True),
        sa.Column('source_file', sa.Text(), nullable=True),
        sa.Column('source_ref', sa.Text(), nullable=True),
        sa.Column('batch_id', sa.Text(), nullable=True),
        sa.Column('record_hash', sa.Text(), nullable=False),
        sa.Column('version_key', sa.Text(), nullable=True),
        sa.PrimaryKeyConstraint('certificate_number', 'licence_class', 'record_hash')
        )
        op.execute(HISTORY_VIEW)
    # Privileges (PostgreSQL only; see loaders/migrations/helpers.py for the roles).
    h.grant("SELECT, INSERT, UPDATE, DELETE", ['driver_health_checks', 'driver_health_checks_versions'], h.WRITER_ROLE)
    h.grant("SELECT", ['driver_health_checks_history'], h.WRITER_ROLE)
    h.grant("SELECT", ['driver_health_checks', 'driver_health_checks_history'], h.READER_ROLE)


def downgrade() -> None:
    op.execute('DROP VIEW "driver_health_checks_history"')
    op.drop_table('driver_health_checks_versions')
    op.drop_table('driver_health_checks')
