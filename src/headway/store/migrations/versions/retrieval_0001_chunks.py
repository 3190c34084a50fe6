"""Retrieval: collections and versioned chunks, with each backend's lexical index.

SQLite gets an FTS5 table over the chunks (external content, kept in step by triggers);
PostgreSQL gets a generated ``tsvector`` column with a GIN index. Vectors are float32
blobs on both: pgvector is not assumed to be installed (see docs/pipelines.md).

Revision ID: retrieval_0001
Revises: 0001_requests
"""

import sqlalchemy as sa
from alembic import op

revision = "retrieval_0001"
down_revision = "0001_requests"
branch_labels = ("retrieval",)
depends_on = None

_SQLITE_FTS = [
    "CREATE VIRTUAL TABLE retrieval_fts USING fts5("
    "title, text, content='retrieval_chunks', content_rowid='id', tokenize='porter unicode61')",
    "CREATE TRIGGER retrieval_chunks_ai AFTER INSERT ON retrieval_chunks BEGIN "
    "INSERT INTO retrieval_fts(rowid, title, text) VALUES (new.id, coalesce(new.title, ''), new.text); END",
    "CREATE TRIGGER retrieval_chunks_ad AFTER DELETE ON retrieval_chunks BEGIN "
    "INSERT INTO retrieval_fts(retrieval_fts, rowid, title, text) "
    "VALUES ('delete', old.id, coalesce(old.title, ''), old.text); END",
]

_POSTGRES_FTS = [
    "ALTER TABLE retrieval_chunks ADD COLUMN tsv tsvector GENERATED ALWAYS AS "
    "(to_tsvector('english', coalesce(title, '') || ' ' || text)) STORED",
    "CREATE INDEX ix_retrieval_chunks_tsv ON retrieval_chunks USING gin (tsv)",
]


def upgrade() -> None:
    op.create_table(
        "retrieval_collections",
        sa.Column("name", sa.String(200), primary_key=True),
        sa.Column("embedding_model", sa.String(200)),
        sa.Column("dimensions", sa.Integer),
        sa.Column("active_version", sa.Integer, nullable=False),
        sa.Column("next_version", sa.Integer, nullable=False),
        sa.Column("updated_at", sa.Double, nullable=False),
    )
    op.create_table(
        "retrieval_chunks",
        sa.Column("id", sa.Integer, primary_key=True, autoincrement=True),
        sa.Column("collection", sa.String(200), nullable=False),
        sa.Column("doc_key", sa.String(512), nullable=False),
        sa.Column("ordinal", sa.Integer, nullable=False),
        sa.Column("title", sa.Text),
        sa.Column("source", sa.Text),
        sa.Column("text", sa.Text, nullable=False),
        sa.Column("metadata", sa.JSON, nullable=False),
        sa.Column("content_hash", sa.String(64), nullable=False),
        sa.Column("embedding", sa.LargeBinary),
        sa.Column("added_version", sa.Integer, nullable=False),
        sa.Column("removed_version", sa.Integer),
    )
    op.create_index("ix_retrieval_chunks_doc", "retrieval_chunks", ["collection", "doc_key"])
    op.create_index("ix_retrieval_chunks_hash", "retrieval_chunks", ["collection", "content_hash"])
    op.create_index(
        "ix_retrieval_chunks_version", "retrieval_chunks", ["collection", "added_version", "removed_version"]
    )
    dialect = op.get_bind().dialect.name
    for statement in _SQLITE_FTS if dialect == "sqlite" else _POSTGRES_FTS if dialect == "postgresql" else []:
        op.execute(statement)


def downgrade() -> None:
    dialect = op.get_bind().dialect.name
    if dialect == "sqlite":
        op.execute("DROP TABLE IF EXISTS retrieval_fts")
    op.drop_table("retrieval_chunks")
    op.drop_table("retrieval_collections")
