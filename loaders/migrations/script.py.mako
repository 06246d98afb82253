"""${message}

Revision ID: ${up_revision}
Revises: ${down_revision | comma,n}
Create Date: ${create_date}

Frozen: never edit after commit. Grant privileges on new tables (see loaders/migrations/helpers.py).
Prefer ``python -m loaders.migrate new-dataset|autogenerate`` to writing one by hand; by hand, give
it the next number: ``alembic -c loaders/migrations/alembic.ini revision --rev-id NNNN -m "..."``.
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op
${imports if imports else ""}
from loaders.migrations import helpers as h

revision = ${repr(up_revision)}
down_revision = ${repr(down_revision)}
branch_labels = ${repr(branch_labels)}
depends_on = ${repr(depends_on)}


def upgrade() -> None:
    ${upgrades if upgrades else "pass"}


def downgrade() -> None:
    ${downgrades if downgrades else "pass"}
