"""batch_ledger_acknowledged: the ledger with the population database's acknowledgement counts

Revision ID: 0007
Revises: 0006

Acknowledgements arrive after the batch (the population database writes them when it has read
the change feed), so the counts are a view over ``acknowledgements`` rather than ledger columns
that would go stale: operators and the reader see per dataset x facility x night what was
received, loaded, superseded, quarantined, held and acknowledged (registered / rejected /
withdrawn) in one row. Hand-written and frozen.
"""

from __future__ import annotations

from alembic import op

from loaders.migrations import helpers as h

revision = "0007"
down_revision = "0006"
branch_labels = None
depends_on = None

VIEW = "batch_ledger_acknowledged"
BODY = """
SELECT l.batch_id, l.dataset, l.facility_code, l.interval_start, l.interval_end, l.status,
       l.received, l.loaded, l.superseded, l.quarantined, l.held, l.flagged,
       COALESCE(a.acknowledged, 0) AS acknowledged,
       COALESCE(a.registered, 0) AS registered,
       COALESCE(a.rejected, 0) AS rejected,
       COALESCE(a.withdrawn, 0) AS withdrawn,
       l.reason, l.finished_at
FROM batch_ledger l
LEFT JOIN (
    SELECT batch_id,
           COUNT(*) AS acknowledged,
           SUM(CASE WHEN status = 'registered' THEN 1 ELSE 0 END) AS registered,
           SUM(CASE WHEN status = 'rejected' THEN 1 ELSE 0 END) AS rejected,
           SUM(CASE WHEN status = 'withdrawn' THEN 1 ELSE 0 END) AS withdrawn
    FROM acknowledgements GROUP BY batch_id
) a ON a.batch_id = l.batch_id
"""


def upgrade() -> None:
    op.execute(f'CREATE VIEW "{VIEW}" AS {BODY}')
    if h.on_postgresql():
        h.grant("SELECT", [VIEW], h.READER_ROLE)
        h.grant("SELECT", [VIEW], h.WRITER_ROLE)


def downgrade() -> None:
    op.execute(f'DROP VIEW IF EXISTS "{VIEW}"')
