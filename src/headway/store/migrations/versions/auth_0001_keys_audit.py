"""Auth: API keys (salted hashes only) and the hash-chained audit trail with its head row.

Revision ID: auth_0001
Revises: 0001_requests
"""

import time

import sqlalchemy as sa
from alembic import op

revision = "auth_0001"
down_revision = "0001_requests"
branch_labels = ("auth",)
depends_on = None


def upgrade() -> None:
    op.create_table(
        "api_keys",
        sa.Column("key_id", sa.String(16), primary_key=True),
        sa.Column("salt", sa.String(64), nullable=False),
        sa.Column("digest", sa.String(64), nullable=False),
        sa.Column("principal", sa.String(200), nullable=False),
        sa.Column("kind", sa.String(16), nullable=False),
        sa.Column("team", sa.String(200)),
        sa.Column("roles", sa.JSON, nullable=False),
        sa.Column("scopes", sa.JSON),
        sa.Column("models", sa.JSON),
        sa.Column("routes", sa.JSON),
        sa.Column("collections", sa.JSON),
        sa.Column("data_class", sa.String(64)),
        sa.Column("regions", sa.JSON),
        sa.Column("description", sa.Text),
        sa.Column("created_at", sa.Double, nullable=False),
        sa.Column("created_by", sa.String(200), nullable=False),
        sa.Column("expires_at", sa.Double),
        sa.Column("revoked_at", sa.Double),
        sa.Column("rotated_to", sa.String(16)),
        sa.Column("updated_at", sa.Double, nullable=False),
    )
    op.create_index("ix_api_keys_principal", "api_keys", ["principal"])
    op.create_index("ix_api_keys_updated_at", "api_keys", ["updated_at"])
    op.create_table(
        "audit_log",
        sa.Column("seq", sa.Integer, primary_key=True, autoincrement=False),
        sa.Column("event_id", sa.String(40), nullable=False, unique=True),
        sa.Column("created_at", sa.Double, nullable=False),
        sa.Column("actor", sa.String(200), nullable=False),
        sa.Column("action", sa.String(100), nullable=False),
        sa.Column("target", sa.String(300)),
        sa.Column("outcome", sa.String(32), nullable=False),
        sa.Column("request_id", sa.String(64)),
        sa.Column("detail", sa.JSON, nullable=False),
        sa.Column("prev_hash", sa.String(64), nullable=False),
        sa.Column("hash", sa.String(64), nullable=False),
    )
    op.create_index("ix_audit_log_action", "audit_log", ["action", "seq"])
    head = op.create_table(
        "audit_head",
        sa.Column("id", sa.Integer, primary_key=True, autoincrement=False),
        sa.Column("seq", sa.Integer, nullable=False),
        sa.Column("hash", sa.String(64), nullable=False),
        sa.Column("updated_at", sa.Double, nullable=False),
    )
    # The one head row every append locks first; the chain starts from the all-zero hash.
    op.bulk_insert(head, [{"id": 1, "seq": 0, "hash": "0" * 64, "updated_at": time.time()}])


def downgrade() -> None:
    op.drop_table("audit_head")
    op.drop_table("audit_log")
    op.drop_table("api_keys")
