"""Gate: stored readiness reports and fault drills.

Revision ID: gate_0001
Revises: 0001_requests
"""

import sqlalchemy as sa
from alembic import op

revision = "gate_0001"
down_revision = "0001_requests"
branch_labels = ("gate",)
depends_on = None


def upgrade() -> None:
    op.create_table(
        "gate_reports",
        sa.Column("report_id", sa.String(64), primary_key=True),
        sa.Column("created_at", sa.Double, nullable=False),
        sa.Column("target", sa.Text),
        sa.Column("profile", sa.String(200), nullable=False),
        sa.Column("verdict", sa.String(16), nullable=False),
        sa.Column("exit_code", sa.Integer, nullable=False),
        sa.Column("score", sa.Double),
        sa.Column("failing", sa.Integer, nullable=False),
        sa.Column("report", sa.JSON, nullable=False),
    )
    op.create_index("ix_gate_reports_created_at", "gate_reports", ["created_at"])
    op.create_table(
        "gate_drills",
        sa.Column("drill_id", sa.String(64), primary_key=True),
        sa.Column("created_at", sa.Double, nullable=False),
        sa.Column("model", sa.String(200), nullable=False),
        sa.Column("passed", sa.Boolean, nullable=False),
        sa.Column("drill", sa.JSON, nullable=False),
    )
    op.create_index("ix_gate_drills_created_at", "gate_drills", ["created_at"])


def downgrade() -> None:
    for table in ("gate_drills", "gate_reports"):
        op.drop_table(table)
