"""Persistence: the ``Store`` interface, its SQL implementation (SQLite or PostgreSQL), the
``Database`` handle and ``SqlRepository`` base that parts build their repositories on, and
the one error translation (an outage is ``StoreUnavailableError``; a bug surfaces)."""

from headway.errors import StoreUnavailableError
from headway.store.backup import backup, restore
from headway.store.base import RequestQuery, Store
from headway.store.database import Database, full_text_ranking, refresh_statistics
from headway.store.errors import is_outage, translate_errors
from headway.store.journal import Journal, Segment
from headway.store.migrate import SchemaUnknownError
from headway.store.outbox import DeliveryState, Outbox, OutboxEntry, OutboxQuery, OutboxStats, WebhookMessage
from headway.store.queue import QueueShape, WorkQueue, backoff
from headway.store.repository import SqlRepository
from headway.store.sql import SqlStore, create_store_engine, normalise_url, open_store
from headway.store.tables import metadata, requests
from headway.store.writer import WriteBehind, WriterHealth, WriterPolicy

__all__ = [
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
    "backup",
    "create_store_engine",
    "full_text_ranking",
    "is_outage",
    "metadata",
    "normalise_url",
    "open_store",
    "refresh_statistics",
    "requests",
    "restore",
    "translate_errors",
]
