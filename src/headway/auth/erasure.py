"""Erasure of a data subject's stored records, across every part that stores any.

Each part that keeps personal data registers a hook (``runtime.erasure.register``): a
synchronous function given the ``Subject`` that deletes what it holds about them and
returns how many items it removed. The request log's hook is built in; cache and review
register theirs when they land. ``AuthService.erase`` runs every hook and audits it.

A subject is matched by its identifier and by its pseudonym (``guards.pii.Pseudonyms``),
because records store a subject that is itself personal data (an email) only as that.

The request log's hook also leaves a tombstone of both (``store.record_erasure``) in the
transaction of its delete: records of the subject made before the erasure that reach the
store later (a spill journal replayed, another worker's buffer) are dropped on arrival.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass

from sqlalchemy import delete, or_

from headway.store import Database, record_erasure, requests, subject_digest


@dataclass(frozen=True, slots=True)
class Subject:
    id: str
    pseudonym: str

    @property
    def identifiers(self) -> tuple[str, str]:
        return (self.id, self.pseudonym)

    @property
    def digest(self) -> str:
        """What the audit trail records instead of the identifier itself."""
        return subject_digest(self.id)


ErasureHook = Callable[[Subject], int]


class ErasureRegistry:
    def __init__(self) -> None:
        self._hooks: dict[str, ErasureHook] = {}

    def register(self, name: str, hook: ErasureHook) -> None:
        if name in self._hooks:
            raise ValueError(f"an erasure hook named {name!r} is already registered")
        self._hooks[name] = hook

    @property
    def names(self) -> tuple[str, ...]:
        return tuple(self._hooks)

    def erase(self, subject: Subject) -> dict[str, int]:
        """Run every hook (synchronously; call from a worker thread)."""
        return {name: hook(subject) for name, hook in self._hooks.items()}


def request_log_hook(database: Database) -> ErasureHook:
    def erase_requests(subject: Subject) -> int:
        metadata = requests.c["metadata"]
        ids = list(subject.identifiers)
        statement = delete(requests).where(
            or_(
                requests.c.caller.in_(ids),
                metadata["subject"].as_string().in_(ids),
                metadata["user"].as_string().in_(ids),
            )
        )
        with database.transaction("erase request records") as connection:
            # Tombstones first, in the delete's transaction: records of the subject still on their
            # way (a spill journal, another worker's buffer) are refused when they arrive.
            record_erasure(connection, ids, erased_at=time.time())
            return int(connection.execute(statement).rowcount or 0)

    return erase_requests
