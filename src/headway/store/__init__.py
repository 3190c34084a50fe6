"""Persistence: the ``Store`` interface, its SQL implementation (SQLite or PostgreSQL), the
``Database`` handle and ``SqlRepository`` base that parts build their repositories on, and
the one error translation (an outage is ``StoreUnavailableError``; a bug surfaces)."""

from headway.errors import StoreUnavailableError
from headway.store.backup import backup as backup_store
from headway.store.backup import restore as restore_store
from headway.store.base import RequestQuery, Store
from headway.store.bulk_insert import BulkInsert
from headway.store.database import Database, full_text_ranking, refresh_statistics
from headway.store.errors import is_outage, translate_errors
from headway.store.journal import Journal, Segment
from headway.store.migrate import BranchStatus, SchemaUnknownError
from headway.store.migrate import check_known as check_schema_known
from headway.store.migrate import downgrade as downgrade_schema
from headway.store.migrate import sql as schema_sql
from headway.store.migrate import status as schema_status
from headway.store.migrate import upgrade as upgrade_schema
from headway.store.outbox import DeliveryState, Outbox, OutboxEntry, OutboxQuery, OutboxStats, WebhookMessage
from headway.store.queue import QueueShape, WorkQueue, backoff
from headway.store.repository import SqlRepository
from headway.store.sql import SqlStore, create_store_engine, normalise_url, open_store
from headway.store.tables import metadata, requests
from headway.store.tombstones import digest as subject_digest
from headway.store.tombstones import record_erasure
from headway.store.writer import WriteBehind, WriterHealth, WriterPolicy

__all__ = [
    "BranchStatus",
    "BulkInsert",
    "Database",
    "DeliveryState",
    "Journal",
    "Outbox",
    "OutboxEntry",
    "OutboxQuery",
    "OutboxStats",
    "QueueShape",
    "RequestQuery",
    "SchemaUnknownError",
    "Segment",
    "SqlRepository",
    "SqlStore",
    "Store",
    "StoreUnavailableError",
    "WebhookMessage",
    "WorkQueue",
    "WriteBehind",
    "WriterHealth",
    "WriterPolicy",
    "backoff",
    "backup_store",
    "check_schema_known",
    "create_store_engine",
    "downgrade_schema",
    "full_text_ranking",
    "is_outage",
    "metadata",
    "normalise_url",
    "open_store",
    "record_erasure",
    "refresh_statistics",
    "requests",
    "restore_store",
    "schema_sql",
    "schema_status",
    "subject_digest",
    "translate_errors",
    "upgrade_schema",
]
