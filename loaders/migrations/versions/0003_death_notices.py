"""death_notices: current and versions tables, indexes, history view, grants.

Revision ID: 0003
Revises: 0002
Create Date: 2026-11-26 16:46:46

Frozen: rendered by ``python -m loaders.migrate new-dataset death_notices``
from the contract config/datasets/death_notices.yaml as it was then.
Never edit it to follow a later contract change: add a revision with
``python -m loaders.migrate autogenerate "<what changed>"``.
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

from loaders.migrations import helpers as h

revision = '0003'
down_revision = '0002'
branch_labels = None
depends_on = None

#: The dataset whose tables this revision creates.
DATASET = 'death_notices'
#: Its stored columns, in table order (also the columns of the history view).
COLUMNS = (
    'notice_code',
    'patient_id',
    'medical_record_no',
    'deceased_full_name',
    'deceased_birth_date',
    'deceased_birth_year',
    'deceased_sex',
    'deceased_health_card_no',
    'deceased_ethnicity_code',
    'deceased_nationality_code',
    'residence_address',
    'residence_province_code',
    'residence_district_code',
    'residence_commune_code',
    'current_address',
    'id_document_type',
    'deceased_id_number',
    'id_issue_date',
    'id_issue_year',
    'id_issuer',
    'admission_datetime',
    'death_datetime',
    'died_en_route',
    'cause_of_death_text',
    'relative_name',
    'recorder_name',
    'facility_head_name',
    'notice_number',
    'book_number',
    'issue_date',
    'first_issue_number',
    'first_issue_book',
    'issuing_facility_code',
    'issuing_facility_address',
    'deceased_social_insurance_no',
    'icd10_codes',
    'icd10_names',
    'icd10_code_list',
    'is_reissue',
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
TABLES = {'death_notices': COLUMNS, 'death_notices_versions': COLUMNS}

_SELECT = ", ".join(f'"{c}"' for c in COLUMNS)
#: Every version ever received: the current one (``is_current`` 1) and the earlier ones.
HISTORY_VIEW = (
    f'CREATE VIEW "death_notices_history" AS SELECT {_SELECT}, 1 AS is_current FROM "death_notices" '
    f'UNION ALL SELECT {_SELECT}, 0 AS is_current FROM "death_notices_versions"'
)
#: view -> its CREATE statement (adoption recreates a view that a pre-migration store lacks).
VIEWS = {'death_notices_history': HISTORY_VIEW}


def upgrade() -> None:
    if not h.adopting():
        op.create_table('death_notices',
        sa.Column('notice_code', sa.Text(), nullable=False),
        sa.Column('patient_id', sa.Text(), nullable=True),
        sa.Column('medical_record_no', sa.Text(), nullable=True),
        sa.Column('deceased_full_name', sa.Text(), nullable=True),
        sa.Column('deceased_birth_date', sa.Date(), nullable=True),
        sa.Column('deceased_birth_year', sa.Integer(), nullable=True),
        sa.Column('deceased_sex', sa.Integer(), nullable=True),
        sa.Column('deceased_health_card_no', sa.Text(), nullable=True),
        sa.Column('deceased_ethnicity_code', sa.Text(), nullable=True),
        sa.Column('deceased_nationality_code', sa.Text(), nullable=True),
        sa.Column('residence_address', sa.Text(), nullable=True),
        sa.Column('residence_province_code', sa.Text(), nullable=True),
        sa.Column('residence_district_code', sa.Text(), nullable=True),
        sa.Column('residence_commune_code', sa.Text(), nullable=True),
        sa.Column('current_address', sa.Text(), nullable=True),
        sa.Column('id_document_type', sa.Text(), nullable=True),
        sa.Column('deceased_id_number', sa.Text(), nullable=True),
        sa.Column('id_issue_date', sa.Date(), nullable=True),
        sa.Column('id_issue_year', sa.Integer(), nullable=True),
        sa.Column('id_issuer', sa.Text(), nullable=True),
        sa.Column('admission_datetime', sa.DateTime(), nullable=True),
        sa.Column('death_datetime', sa.DateTime(), nullable=True),
        sa.Column('died_en_route', sa.Boolean(), nullable=True),
        sa.Column('cause_of_death_text', sa.Text(), nullable=True),
        sa.Column('relative_name', sa.Text(), nullable=True),
        sa.Column('recorder_name', sa.Text(), nullable=True),
        sa.Column('facility_head_name', sa.Text(), nullable=True),
        sa.Column('notice_number', sa.Text(), nullable=True),
        sa.Column('book_number', sa.Text(), nullable=True),
        sa.Column('issue_date', sa.Date(), nullable=True),
        sa.Column('first_issue_number', sa.Text(), nullable=True),
        sa.Column('first_issue_book', sa.Text(), nullable=True),
        sa.Column('issuing_facility_code', sa.Text(), nullable=True),
        sa.Column('issuing_facility_address', sa.Text(), nullable=True),
        sa.Column('deceased_social_insurance_no', sa.Text(), nullable=True),
        sa.Column('icd10_codes', sa.Text(), nullable=True),
        sa.Column('icd10_names', sa.Text(), nullable=True),
        sa.Column('icd10_code_list', sa.Text(), nullable=True),
        sa.Column('is_reissue', sa.Boolean(), nullable=True),
        sa.Column('facility_code', sa.Text(), nullable=True),
        sa.Column('source_format', sa.Text(), nullable=True),
        sa.Column('spec_version', sa.Text(), nullable=True),
        sa.Column('source_file', sa.Text(), nullable=True),
        sa.Column('source_ref', sa.Text(), nullable=True),
        sa.Column('batch_id', sa.Text(), nullable=True),
        sa.Column('record_hash', sa.Text(), nullable=True),
        sa.Column('version_key', sa.Text(), nullable=True),
        sa.PrimaryKeyConstraint('notice_code')
        )
        op.create_index('ix_death_notices_batch', 'death_notices', ['batch_id'], unique=False)
        op.create_index('ix_death_notices_event', 'death_notices', ['death_datetime'], unique=False)
        op.create_table('death_notices_versions',
        sa.Column('notice_code', sa.Text(), nullable=False),
        sa.Column('patient_id', sa.Text(), nullable=True),
        sa.Column('medical_record_no', sa.Text(), nullable=True),
        sa.Column('deceased_full_name', sa.Text(), nullable=True),
        sa.Column('deceased_birth_date', sa.Date(), nullable=True),
        sa.Column('deceased_birth_year', sa.Integer(), nullable=True),
        sa.Column('deceased_sex', sa.Integer(), nullable=True),
        sa.Column('deceased_health_card_no', sa.Text(), nullable=True),
        sa.Column('deceased_ethnicity_code', sa.Text(), nullable=True),
        sa.Column('deceased_nationality_code', sa.Text(), nullable=True),
        sa.Column('residence_address', sa.Text(), nullable=True),
        sa.Column('residence_province_code', sa.Text(), nullable=True),
        sa.Column('residence_district_code', sa.Text(), nullable=True),
        sa.Column('residence_commune_code', sa.Text(), nullable=True),
        sa.Column('current_address', sa.Text(), nullable=True),
        sa.Column('id_document_type', sa.Text(), nullable=True),
        sa.Column('deceased_id_number', sa.Text(), nullable=True),
        sa.Column('id_issue_date', sa.Date(), nullable=True),
        sa.Column('id_issue_year', sa.Integer(), nullable=True),
        sa.Column('id_issuer', sa.Text(), nullable=True),
        sa.Column('admission_datetime', sa.DateTime(), nullable=True),
        sa.Column('death_datetime', sa.DateTime(), nullable=True),
        sa.Column('died_en_route', sa.Boolean(), nullable=True),
        sa.Column('cause_of_death_text', sa.Text(), nullable=True),
        sa.Column('relative_name', sa.Text(), nullable=True),
        sa.Column('recorder_name', sa.Text(), nullable=True),
        sa.Column('facility_head_name', sa.Text(), nullable=True),
        sa.Column('notice_number', sa.Text(), nullable=True),
        sa.Column('book_number', sa.Text(), nullable=True),
        sa.Column('issue_date', sa.Date(), nullable=True),
        sa.Column('first_issue_number', sa.Text(), nullable=True),
        sa.Column('first_issue_book', sa.Text(), nullable=True),
        sa.Column('issuing_facility_code', sa.Text(), nullable=True),
        sa.Column('issuing_facility_address', sa.Text(), nullable=True),
        sa.Column('deceased_social_insurance_no', sa.Text(), nullable=True),
        sa.Column('icd10_codes', sa.Text(), nullable=True),
        sa.Column('icd10_names', sa.Text(), nullable=True),
        sa.Column('icd10_code_list', sa.Text(), nullable=True),
        sa.Column('is_reissue', sa.Boolean(), nullable=True),
        sa.Column('facility_code', sa.Text(), nullable=True),
        sa.Column('source_format', sa.Text(), nullable=True),
        sa.Column('spec_version', sa.Text(), nullable=True),
        sa.Column('source_file', sa.Text(), nullable=True),
        sa.Column('source_ref', sa.Text(), nullable=True),
        sa.Column('batch_id', sa.Text(), nullable=True),
        sa.Column('record_hash', sa.Text(), nullable=False),
        sa.Column('version_key', sa.Text(), nullable=True),
        sa.PrimaryKeyConstraint('notice_code', 'record_hash')
        )
        op.execute(HISTORY_VIEW)
    # Privileges (PostgreSQL only; see loaders/migrations/helpers.py for the roles).
    h.grant("SELECT, INSERT, UPDATE, DELETE", ['death_notices', 'death_notices_versions'], h.WRITER_ROLE)
    h.grant("SELECT", ['death_notices_history'], h.WRITER_ROLE)
    h.grant("SELECT", ['death_notices', 'death_notices_history'], h.READER_ROLE)


def downgrade() -> None:
    op.execute('DROP VIEW "death_notices_history"')
    op.drop_table('death_notices_versions')
    op.drop_table('death_notices')
