"""quality mart: per dataset x facility x night delivery, volume, validity and timeliness

Revision ID: 0010
Revises: 0009

Two tables the nightly quality report is built from (``loaders/quality.py`` refreshes them per
night, idempotently). Aggregates only: counts, rates, lags in hours, rule ids. No record keys, no
values, no names, so operators may read them without access to the restricted findings tables.

* ``quality_facility_night`` - one row per dataset x registered facility x night: delivered /
  silent / failed, received / loaded / quarantined / flagged / superseded / held, rates, files
  received and rejected, the volume against the facility's own trailing median, event-to-receipt
  lag (median, p95, share within the dataset's deadline).
* ``quality_rule_night`` - findings per dataset x facility x night x rule x severity (records and
  findings, rate per received record).

PostgreSQL: a new NOLOGIN group role ``s06_quality_reader`` (operators, dashboards) may SELECT the
two tables and nothing else; the pipeline writer gets DML. Hand-written and frozen.
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

from loaders.migrations import helpers as h

revision = "0010"
down_revision = "0009"
branch_labels = None
depends_on = None

#: Operators' read-only role (dashboards, the report DAG may run as the writer).
QUALITY_READER_ROLE = "s06_quality_reader"

TABLES = {
    "quality_facility_night": (
        "dataset", "facility_code", "night", "province_code", "source_kind", "delivery", "batch_status",
        "received", "loaded", "quarantined", "flagged", "superseded", "held", "files_received",
        "files_rejected", "quarantine_rate", "flag_rate", "validity", "trailing_median", "trailing_nights",
        "volume_ratio", "volume_anomaly", "lag_records", "lag_median_hours", "lag_p95_hours",
        "within_deadline_share", "deadline_hours", "refreshed_at",
    ),
    "quality_rule_night": (
        "dataset", "facility_code", "night", "rule_id", "severity", "category", "records", "findings", "rate",
    ),
}


def upgrade() -> None:
    op.create_table(
        "quality_facility_night",
        sa.Column("dataset", sa.Text(), nullable=False),
        sa.Column("facility_code", sa.Text(), nullable=False),
        sa.Column("night", sa.Date(), nullable=False),
        sa.Column("province_code", sa.Text(), nullable=True),
        sa.Column("source_kind", sa.Text(), nullable=True),
        sa.Column("delivery", sa.Text(), nullable=False),
        sa.Column("batch_status", sa.Text(), nullable=True),
        sa.Column("received", sa.Integer(), nullable=False),
        sa.Column("loaded", sa.Integer(), nullable=False),
        sa.Column("quarantined", sa.Integer(), nullable=False),
        sa.Column("flagged", sa.Integer(), nullable=False),
        sa.Column("superseded", sa.Integer(), nullable=False),
        sa.Column("held", sa.Integer(), nullable=False),
        sa.Column("files_received", sa.Integer(), nullable=False),
        sa.Column("files_rejected", sa.Integer(), nullable=False),
        sa.Column("quarantine_rate", sa.Float(), nullable=True),
        sa.Column("flag_rate", sa.Float(), nullable=True),
        sa.Column("validity", sa.Float(), nullable=True),
        sa.Column("trailing_median", sa.Float(), nullable=True),
        sa.Column("trailing_nights", sa.Integer(), nullable=False),
        sa.Column("volume_ratio", sa.Float(), nullable=True),
        sa.Column("volume_anomaly", sa.Text(), nullable=True),
        sa.Column("lag_records", sa.Integer(), nullable=False),
        sa.Column("lag_median_hours", sa.Float(), nullable=True),
        sa.Column("lag_p95_hours", sa.Float(), nullable=True),
        sa.Column("within_deadline_share", sa.Float(), nullable=True),
        sa.Column("deadline_hours", sa.Float(), nullable=True),
        sa.Column("refreshed_at", sa.DateTime(), nullable=False),
        sa.PrimaryKeyConstraint("dataset", "facility_code", "night"),
    )
    op.create_index("ix_quality_facility_night_night", "quality_facility_night", ["night"], unique=False)
    op.create_table(
        "quality_rule_night",
        sa.Column("dataset", sa.Text(), nullable=False),
        sa.Column("facility_code", sa.Text(), nullable=False),
        sa.Column("night", sa.Date(), nullable=False),
        sa.Column("rule_id", sa.Text(), nullable=False),
        sa.Column("severity", sa.Text(), nullable=False),
        sa.Column("category", sa.Text(), nullable=True),
        sa.Column("records", sa.Integer(), nullable=False),
        sa.Column("findings", sa.Integer(), nullable=False),
        sa.Column("rate", sa.Float(), nullable=True),
        sa.PrimaryKeyConstraint("dataset", "facility_code", "night", "rule_id", "severity"),
    )
    op.create_index("ix_quality_rule_night_night", "quality_rule_night", ["night"], unique=False)
    if h.on_postgresql():
        op.execute(
            "DO $$ BEGIN\n"
            f"  IF NOT EXISTS (SELECT FROM pg_catalog.pg_roles WHERE rolname = '{QUALITY_READER_ROLE}') THEN\n"
            f'    CREATE ROLE "{QUALITY_READER_ROLE}" NOLOGIN;\n'
            "  END IF;\n"
            "EXCEPTION WHEN duplicate_object OR unique_violation THEN NULL;\n"
            "END $$"
        )
        h.grant_schema_usage(QUALITY_READER_ROLE)
        h.grant_version_table(QUALITY_READER_ROLE)
        h.grant("SELECT", list(TABLES), QUALITY_READER_ROLE)
        h.grant("SELECT, INSERT, UPDATE, DELETE", list(TABLES), h.WRITER_ROLE)


def downgrade() -> None:
    for name in reversed(list(TABLES)):
        op.drop_table(name)
    if h.on_postgresql():
        h.revoke_version_table(QUALITY_READER_ROLE)
        h.revoke_schema_usage(QUALITY_READER_ROLE)
        op.execute(
            "DO $$ BEGIN\n"
            f'  DROP ROLE IF EXISTS "{QUALITY_READER_ROLE}";\n'
            "EXCEPTION WHEN dependent_objects_still_exist OR insufficient_privilege THEN\n"
            f"  RAISE NOTICE 'role {QUALITY_READER_ROLE} kept: it is still used elsewhere';\n"
            "END $$"
        )
