"""record_status for tombstones

Revision ID: 0006
Revises: 0005
Create Date: 2026-11-26 16:59:44

Frozen: rendered by ``python -m loaders.migrate autogenerate``
from the contracts as they were then, and reviewed before committing.
Never edit it to follow a later contract change: add a revision with
``python -m loaders.migrate autogenerate "<what changed>"``.
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

from loaders.migrations import helpers as h

revision = '0006'
down_revision = '0005'
branch_labels = None
depends_on = None

#: History views recreated around the change: dataset -> columns after / before it.
VIEWS_AFTER: dict[str, tuple[str, ...]] = {
    'birth_certificates': (
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
        'record_status',
    ),
    'death_notices': (
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
        'record_status',
    ),
    'driver_health_checks': (
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
        'record_status',
    ),
    'health_workforce': (
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
        'record_status',
    ),
}
VIEWS_BEFORE: dict[str, tuple[str, ...]] = {
    'birth_certificates': (
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
    ),
    'death_notices': (
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
    ),
    'driver_health_checks': (
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
    ),
    'health_workforce': (
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
    ),
}


def _drop_views(views: dict[str, tuple[str, ...]]) -> None:
    for ds in views:
        op.execute(f'DROP VIEW IF EXISTS "{ds}_history"')


def _create_views(views: dict[str, tuple[str, ...]]) -> None:
    for ds, cols in views.items():
        select = ", ".join(f'"{c}"' for c in cols)
        op.execute(f'CREATE VIEW "{ds}_history" AS SELECT {select}, 1 AS is_current FROM "{ds}" '
                   f'UNION ALL SELECT {select}, 0 AS is_current FROM "{ds}_versions"')
        h.grant("SELECT", [f"{ds}_history"], h.WRITER_ROLE)
        h.grant("SELECT", [f"{ds}_history"], h.READER_ROLE)


def upgrade() -> None:
    _drop_views(VIEWS_BEFORE)
    with op.batch_alter_table('birth_certificates', schema=None) as batch_op:
        batch_op.add_column(sa.Column('record_status', sa.Text(), nullable=True))

    with op.batch_alter_table('birth_certificates_versions', schema=None) as batch_op:
        batch_op.add_column(sa.Column('record_status', sa.Text(), nullable=True))

    with op.batch_alter_table('death_notices', schema=None) as batch_op:
        batch_op.add_column(sa.Column('record_status', sa.Text(), nullable=True))

    with op.batch_alter_table('death_notices_versions', schema=None) as batch_op:
        batch_op.add_column(sa.Column('record_status', sa.Text(), nullable=True))

    with op.batch_alter_table('driver_health_checks', schema=None) as batch_op:
        batch_op.add_column(sa.Column('record_status', sa.Text(), nullable=True))

    with op.batch_alter_table('driver_health_checks_versions', schema=None) as batch_op:
        batch_op.add_column(sa.Column('record_status', sa.Text(), nullable=True))

    with op.batch_alter_table('health_workforce', schema=None) as batch_op:
        batch_op.add_column(sa.Column('record_status', sa.Text(), nullable=True))

    with op.batch_alter_table('health_workforce_versions', schema=None) as batch_op:
        batch_op.add_column(sa.Column('record_status', sa.Text(), nullable=True))

    _create_views(VIEWS_AFTER)


def downgrade() -> None:
    _drop_views(VIEWS_AFTER)
    with op.batch_alter_table('health_workforce_versions', schema=None) as batch_op:
        batch_op.drop_column('record_status')

    with op.batch_alter_table('health_workforce', schema=None) as batch_op:
        batch_op.drop_column('record_status')

    with op.batch_alter_table('driver_health_checks_versions', schema=None) as batch_op:
        batch_op.drop_column('record_status')

    with op.batch_alter_table('driver_health_checks', schema=None) as batch_op:
        batch_op.drop_column('record_status')

    with op.batch_alter_table('death_notices_versions', schema=None) as batch_op:
        batch_op.drop_column('record_status')

    with op.batch_alter_table('death_notices', schema=None) as batch_op:
        batch_op.drop_column('record_status')

    with op.batch_alter_table('birth_certificates_versions', schema=None) as batch_op:
        batch_op.drop_column('record_status')

    with op.batch_alter_table('birth_certificates', schema=None) as batch_op:
        batch_op.drop_column('record_status')

    _create_views(VIEWS_BEFORE)
