"""Idempotency-Key on every ``POST /v1/*``: one outcome per (caller, key), kept in the store."""

from headway.idempotency.base import (
    DEFAULT_LEASE_S,
    DEFAULT_TTL_S,
    MAX_KEY_CHARS,
    MAX_STORED_BODY_BYTES,
    Done,
    Entry,
    IdempotencyStore,
    Mismatch,
    Outcome,
    Running,
    Started,
    fingerprint,
    scope_of,
)
from headway.idempotency.purge import KeyPurge
from headway.idempotency.sql import SqlIdempotencyStore

__all__ = [
    "DEFAULT_LEASE_S",
    "DEFAULT_TTL_S",
    "MAX_KEY_CHARS",
    "MAX_STORED_BODY_BYTES",
    "Done",
    "Entry",
    "IdempotencyStore",
    "KeyPurge",
    "Mismatch",
    "Outcome",
    "Running",
    "SqlIdempotencyStore",
    "Started",
    "fingerprint",
    "scope_of",
]
