"""Persistence: the ``Store`` interface and its SQL implementation (SQLite or PostgreSQL)."""

from headway.store.base import RequestQuery, Store
from headway.store.sql import SqlStore, open_store

__all__ = ["RequestQuery", "SqlStore", "Store", "open_store"]
