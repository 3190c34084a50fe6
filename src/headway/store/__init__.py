"""Persistence: the ``Store`` interface, its SQL implementation (SQLite or PostgreSQL), the
``Database`` handle and ``SqlRepository`` base that parts build their repositories on, and
the one error translation (an outage is ``StoreUnavailableError``; a bug surfaces)."""

from headway.errors import StoreUnavailableError
from headway.store.base import RequestQuery, Store
from headway.store.database import Database
from headway.store.errors import is_outage, translate_errors
from headway.store.outbox import DeliveryState, Outbox, OutboxEntry, OutboxQuery, OutboxStats, WebhookMessage
from headway.store.queue import QueueShape, WorkQueue, backoff
from headway.store.repository import SqlRepository
from headway.store.sql import SqlStore, open_store

__all__ = [
    "Database",
    "DeliveryState",
    "Outbox",
    "OutboxEntry",
    "OutboxQuery",
    "OutboxStats",
    "QueueShape",
    "RequestQuery",
    "SqlRepository",
    "SqlStore",
    "Store",
    "StoreUnavailableError",
    "WebhookMessage",
    "WorkQueue",
    "backoff",
    "is_outage",
    "open_store",
    "translate_errors",
]
