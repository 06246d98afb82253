"""birth_certificates: current and versions tables, indexes, history view, grants.

Revision ID: 0002
Revises: 0001
Create Date: 2026-11-26 16:46:44

Frozen: rendered by ``python -m loaders.migrate new-dataset birth_certificates``
from the contract config/datasets/birth_certificates.yaml as it was then.
Never edit it to follow a later contract change: add a revision with
``python -m loaders.migrate autogenerate "<what changed>"``.
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

from loaders.migrations import helpers as h

revision = '0002'
down_revision = '0001'
branch_labels = None
depends_on = None

#: The dataset whose tables this revision creates.
DATASET = 'birth_certificates'
#: Its stored columns, in table order (also the columns of the history view).
COLUMNS = (
    'certificate_code',
    'episode_key',
    'mother_full_name',
    'mother_birth_date',
    'mother_birth_year',
    'mother_ethnicity_code',
    'mother_nationality_code',
    'mother_id_type',
    'mother_id_number',
    'mother_id_issue_date',
    'mother_id_issue_year',
    'mother_social_insurance_no',
    'mother_health_card_no',
    'residence_address',
    'residence_province_code',
    'residence_commune_code',
    'father_full_name',
    'child_temp_card_no',
    'child_name',
    'child_sex',
    'children_in_delivery',
    'birth_order',
    'living_children',
    'birth_weight_g',
    'birth_weight_not_measured',
    'birth_datetime',
    'birth_place',
    'child_condition',
    'caesarean',
    'under_32_weeks',
    'notes',
    'birth_attendant',
    'recorder',
    'issue_date',
    'book_number',
    'first_issue',
    'surrogate_mother_name',
    'surrogate_mother_id_number',
    'surrogate_mother_birth_date',
    'surrogate_mother_birth_year',
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
TABLES = {'birth_certificates': COLUMNS, 'birth_certificates_versions': COLUMNS}

_SELECT = ", ".join(f'"{c}"' for c in COLUMNS)
#: Every version ever received: the current one (``is_current`` 1) and the earlier ones.
HISTORY_VIEW = (
    f'CREATE VIEW "birth_certificates_history" AS SELECT {_SELECT}, 1 AS is_current FROM "birth_certificates" '
    f'UNION ALL SELECT {_SELECT}, 0 AS is_current FROM "birth_certificates_versions"'
)
#: view -> its CREATE statement (adoption recreates a view that a pre-migration store lacks).
VIEWS = {'birth_certificates_history': HISTORY_VIEW}


def upgrade() -> None:
    if not h.adopting():
        op.create_table('birth_certificates',
        sa.Column('certificate_code', sa.Text(), nullable=False),
        sa.Column('episode_key', sa.Text(), nullable=True),
        sa.Column('mother_full_name', sa.Text(), nullable=True),
        sa.Column('mother_birth_date', sa.Date(), nullable=True),
        sa.Column('mother_birth_year', sa.Integer(), nullable=True),
        sa.Column('mother_ethnicity_code', sa.Text(), nullable=True),
        sa.Column('mother_nationality_code', sa.Text(), nullable=True),
        sa.Column('mother_id_type', sa.Text(), nullable=True),
        sa.Column('mother_id_number', sa.Text(), nullable=True),
        sa.Column('mother_id_issue_date', sa.Date(), nullable=True),
        sa.Column('mother_id_issue_year', sa.Integer(), nullable=True),
        sa.Column('mother_social_insurance_no', sa.Text(), nullable=True),
        sa.Column('mother_health_card_no', sa.Text(), nullable=True),
        sa.Column('residence_address', sa.Text(), nullable=True),
        sa.Column('residence_province_code', sa.Text(), nullable=True),
        sa.Column('residence_commune_code', sa.Text(), nullable=True),
        sa.Column('father_full_name', sa.Text(), nullable=True),
        sa.Column('child_temp_card_no', sa.Text(), nullable=True),
        sa.Column('child_name', sa.Text(), nullable=True),
        sa.Column('child_sex', sa.Integer(), nullable=True),
        sa.Column('children_in_delivery', sa.Integer(), nullable=True),
        sa.Column('birth_order', sa.Integer(), nullable=True),
        sa.Column('living_children', sa.Integer(), nullable=True),
        sa.Column('birth_weight_g', sa.Integer(), nullable=True),
        sa.Column('birth_weight_not_measured', sa.Boolean(), nullable=True),
        sa.Column('birth_datetime', sa.DateTime(), nullable=True),
        sa.Column('birth_place', sa.Text(), nullable=True),
        sa.Column('child_condition', sa.Text(), nullable=True),
        sa.Column('caesarean', sa.Boolean(), nullable=True),
        sa.Column('under_32_weeks', sa.Boolean(), nullable=True),
        sa.Column('notes', sa.Text(), nullable=True),
        sa.Column('birth_attendant', sa.Text(), nullable=True),
        sa.Column('recorder', sa.Text(), nullable=True),
        sa.Column('issue_date', sa.Date(), nullable=True),
        sa.Column('book_number', sa.Text(), nullable=True),
        sa.Column('first_issue', sa.Boolean(), nullable=True),
        sa.Column('surrogate_mother_name', sa.Text(), nullable=True),
        sa.Column('surrogate_mother_id_number', sa.Text(), nullable=True),
        sa.Column('surrogate_mother_birth_date', sa.Date(), nullable=True),
        sa.Column('surrogate_mother_birth_year', sa.Integer(), nullable=True),
        sa.Column('facility_code', sa.Text(), nullable=True),
        sa.Column('source_format', sa.Text(), nullable=True),
        sa.Column('spec_version', sa.Text(), nullable=True),
        sa.Column('source_file', sa.Text(), nullable=True),
        sa.Column('source_ref', sa.Text(), nullable=True),
        sa.Column('batch_id', sa.Text(), nullable=True),
        sa.Column('record_hash', sa.Text(), nullable=True),
        sa.Column('version_key', sa.Text(), nullable=True),
        sa.PrimaryKeyConstraint('certificate_code')
        )
        op.create_index('ix_birth_certificates_batch', 'birth_certificates', ['batch_id'], unique=False)
        op.create_index('ix_birth_certificates_event', 'birth_certificates', ['birth_datetime'], unique=False)
        op.create_table('birth_certificates_versions',
        sa.Column('certificate_code', sa.Text(), nullable=False),
        sa.Column('episode_key', sa.Text(), nullable=True),
        sa.Column('mother_full_name', sa.Text(), nullable=True),
        sa.Column('mother_birth_date', sa.Date(), nullable=True),
        sa.Column('mother_birth_year', sa.Integer(), nullable=True),
        sa.Column('mother_ethnicity_code', sa.Text(), nullable=True),
        sa.Column('mother_nationality_code', sa.Text(), nullable=True),
        sa.Column('mother_id_type', sa.Text(), nullable=True),
        sa.Column('mother_id_number', sa.Text(), nullable=True),
        sa.Column('mother_id_issue_date', sa.Date(), nullable=True),
        sa.Column('mother_id_issue_year', sa.Integer(), nullable=True),
        sa.Column('mother_social_insurance_no', sa.Text(), nullable=True),
        sa.Column('mother_health_card_no', sa.Text(), nullable=True),
        sa.Column('residence_address', sa.Text(), nullable=True),
        sa.Column('residence_province_code', sa.Text(), nullable=True),
        sa.Column('residence_commune_code', sa.Text(), nullable=True),
        sa.Column('father_full_name', sa.Text(), nullable=True),
        sa.Column('child_temp_card_no', sa.Text(), nullable=True),
        sa.Column('child_name', sa.Text(), nullable=True),
        sa.Column('child_sex', sa.Integer(), nullable=True),
        sa.Column('children_in_delivery', sa.Integer(), nullable=True),
        sa.Column('birth_order', sa.Integer(), nullable=True),
        sa.Column('living_children', sa.Integer(), nullable=True),
        sa.Column('birth_weight_g', sa.Integer(), nullable=True),
        sa.Column('birth_weight_not_measured', sa.Boolean(), nullable=True),
        sa.Column('birth_datetime', sa.DateTime(), nullable=True),
        sa.Column('birth_place', sa.Text(), nullable=True),
        sa.Column('child_condition', sa.Text(), nullable=True),
        sa.Column('caesarean', sa.Boolean(), nullable=True),
        sa.Column('under_32_weeks', sa.Boolean(), nullable=True),
        sa.Column('notes', sa.Text(), nullable=True),
        sa.Column('birth_attendant', sa.Text(), nullable=True),
        sa.Column('recorder', sa.Text(), nullable=True),
        sa.Column('issue_date', sa.Date(), nullable=True),
        sa.Column('book_number', sa.Text(), nullable=True),
        sa.Column('first_issue', sa.Boolean(), nullable=True),
        sa.Column('surrogate_mother_name', sa.Text(), nullable=True),
        sa.Column('surrogate_mother_id_number', sa.Text(), nullable=True),
        sa.Column('surrogate_mother_birth_date', sa.Date(), nullable=True),
        sa.Column('surrogate_mother_birth_year', sa.Integer(), nullable=True),
        sa.Column('facility_code', sa.Text(), nullable=True),
        sa.Column('source_format', sa.Text(), nullable=True),
        sa.Column('spec_version', sa.Text(), nullable=True),
        sa.Column('source_file', sa.Text(), nullable=True),
        sa.Column('source_ref', sa.Text(), nullable=True),
        sa.Column('batch_id', sa.Text(), nullable=True),
        sa.Column('record_hash', sa.Text(), nullable=False),
        sa.Column('version_key', sa.Text(), nullable=True),
        sa.PrimaryKeyConstraint('certificate_code', 'record_hash')
        )
        op.execute(HISTORY_VIEW)
    # Privileges (PostgreSQL only; see loaders/migrations/helpers.py for the roles).
    h.grant("SELECT, INSERT, UPDATE, DELETE", ['birth_certificates', 'birth_certificates_versions'], h.WRITER_ROLE)
    h.grant("SELECT", ['birth_certificates_history'], h.WRITER_ROLE)
    h.grant("SELECT", ['birth_certificates', 'birth_certificates_history'], h.READER_ROLE)


def downgrade() -> None:
    op.execute('DROP VIEW "birth_certificates_history"')
    op.drop_table('birth_certificates_versions')
    op.drop_table('birth_certificates')
