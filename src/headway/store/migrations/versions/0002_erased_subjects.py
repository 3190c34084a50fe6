"""Request log: tombstones of erased data subjects (sha256 of each identifier erased, and when).

Revision ID: 0002_erased_subjects
Revises: 0001_requests
"""

import sqlalchemy as sa
from alembic import op

revision = "0002_erased_subjects"
down_revision = "0001_requests"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "erased_subjects",
        sa.Column("digest", sa.String(64), primary_key=True),
        sa.Column("erased_at", sa.Double, nullable=False),
    )


def downgrade() -> None:
    op.drop_table("erased_subjects")
