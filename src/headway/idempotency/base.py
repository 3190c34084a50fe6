"""What an Idempotency-Key resolves to, and the interface of the store that keeps them.

``begin`` is atomic across replicas: exactly one caller of a (scope, key) gets ``Started``
and runs the request; the others see the same request ``Running`` (join it), ``Done``
(replay it) or a ``Mismatch`` (the key was used for a different request).
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass, field
from typing import Protocol

DEFAULT_TTL_S = 24 * 3600.0  # how long a key's outcome is kept (the SDKs retry within minutes)
DEFAULT_LEASE_S = 15.0  # a running request whose owner stopped renewing for this long can be taken over
MAX_KEY_CHARS = 255
MAX_STORED_BODY_BYTES = 4 * 1024 * 1024  # larger answers are not kept (the key is released instead)


def scope_of(credential: str | None) -> str:
    """The caller's scope: a hash of the credential it sent (keys of different callers never meet)."""
    return hashlib.sha256((credential or "").encode()).hexdigest()


def fingerprint(method: str, path: str, query: bytes, body: bytes) -> str:
    digest = hashlib.sha256()
    for part in (method.encode(), path.encode(), query, body):
        digest.update(len(part).to_bytes(8, "big"))
        digest.update(part)
    return digest.hexdigest()


@dataclass(frozen=True, slots=True)
class Entry:
    scope: str
    key: str
    fingerprint: str
    request_id: str
    state: str  # running | done
    owner: str
    lease_until: float
    created_at: float
    expires_at: float
    status: int | None = None
    headers: dict[str, str] = field(default_factory=dict)
    body: bytes | None = None
    review_id: str | None = None


@dataclass(frozen=True, slots=True)
class Started:
    """This caller owns the key: run the request, then ``complete`` or ``release``."""

    entry: Entry


@dataclass(frozen=True, slots=True)
class Running:
    """Another request with this key is running now (on any replica)."""

    entry: Entry


@dataclass(frozen=True, slots=True)
class Done:
    """The request with this key finished: its stored outcome."""

    entry: Entry


@dataclass(frozen=True, slots=True)
class Mismatch:
    """The key was first used for a different request (method, path or body)."""

    entry: Entry


Outcome = Started | Running | Done | Mismatch


class IdempotencyStore(Protocol):
    def begin(
        self, scope: str, key: str, fingerprint: str, request_id: str, owner: str, *, now: float, lease_s: float, ttl_s: float
    ) -> Outcome: ...

    def take_over(self, seen: Entry, request_id: str, owner: str, *, now: float, lease_s: float) -> Entry | None: ...

    def renew(self, scope: str, key: str, owner: str, *, until: float) -> bool: ...

    def complete(
        self, scope: str, key: str, owner: str, *, status: int, headers: dict[str, str], body: bytes, review_id: str | None
    ) -> bool: ...

    def release(self, scope: str, key: str, owner: str) -> None: ...

    def get(self, scope: str, key: str) -> Entry | None: ...

    def purge(self, now: float) -> int: ...
