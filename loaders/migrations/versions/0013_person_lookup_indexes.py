"""person lookup indexes on the match column of the datasets other records look up

Revision ID: 0013
Revises: 0012
Create Date: 2026-11-30 23:13:48

Rendered by ``python -m loaders.migrate autogenerate`` from the contracts as they were then and
reviewed: the generator also dropped and recreated the history views around the change; an
index changes no view, so that part was removed. Frozen.

One index on the ``match_column`` (the personal ID) of each dataset whose contract says
``person_lookups: true``: the cross-record rules look those up by person (X3/X6: a recorded death
of a mother, patient or child; W5: a practitioner's other registrations; V5: a child's earlier
doses); without the index each lookup scanned the table. Births and driver checks are not looked
up by person, and their loads do not pay for an index nobody reads. On a large PostgreSQL store
``CREATE INDEX`` blocks writes to the table while it builds (minutes per ten million rows): run
the upgrade outside the nightly window, as for any migration.
"""

from __future__ import annotations

from alembic import op

revision = '0013'
down_revision = '0012'
branch_labels = None
depends_on = None

#: dataset -> its match column, as the contracts declared them.
PERSON_COLUMNS = {
    'death_notices': 'deceased_id_number',
    'health_workforce': 'personal_id',
    'vaccination_records': 'personal_id',
}


def upgrade() -> None:
    for dataset, column in PERSON_COLUMNS.items():
        op.create_index(f'ix_{dataset}_person', dataset, [column], unique=False)


def downgrade() -> None:
    for dataset in reversed(PERSON_COLUMNS):
        op.drop_index(f'ix_{dataset}_person', table_name=dataset)
