"""The API key repository: create, list, rotate and revoke keys in the store.

Synchronous (SQLAlchemy Core through the store's ``Database``); async callers use
``asyncio.to_thread``. An outage is ``StoreUnavailableError``; anything else surfaces.
Rows hold a salt and a digest, never a token: a token exists only in the ``create`` /
``rotate`` return value, which the caller shows once.
"""

from __future__ import annotations

import time
from collections.abc import Sequence
from dataclasses import dataclass, field, replace
from typing import Any

from sqlalchemy import insert, select, update
from sqlalchemy.exc import IntegrityError

from headway.auth.keys import display_prefix, new_token
from headway.auth.tables import api_keys
from headway.store import SqlRepository, StoreUnavailableError


@dataclass(frozen=True, slots=True)
class KeySpec:
    """What a new key grants. ``None`` lists mean "no restriction at the key level"."""

    principal: str
    roles: tuple[str, ...]
    kind: str = "service"
    team: str | None = None
    scopes: tuple[str, ...] | None = None
    models: tuple[str, ...] | None = None
    routes: tuple[str, ...] | None = None
    collections: tuple[str, ...] | None = None
    data_class: str | None = None
    regions: tuple[str, ...] | None = None
    description: str | None = None
    expires_at: float | None = None


@dataclass(frozen=True, slots=True)
class KeyRecord:
    key_id: str
    spec: KeySpec
    created_at: float
    created_by: str
    updated_at: float
    revoked_at: float | None = None
    rotated_to: str | None = None
    salt: str = field(default="", repr=False)
    digest: str = field(default="", repr=False)

    def status(self, now: float | None = None) -> str:
        now = time.time() if now is None else now
        if self.revoked_at is not None and self.revoked_at <= now:
            return "revoked"
        if self.spec.expires_at is not None and self.spec.expires_at <= now:
            return "expired"
        return "active"

    def usable_until(self) -> float | None:
        ends = [t for t in (self.revoked_at, self.spec.expires_at) if t is not None]
        return min(ends) if ends else None

    def to_public(self, now: float | None = None) -> dict[str, Any]:
        """Everything about a key except what could verify it."""
        spec = self.spec
        return {
            "id": self.key_id,
            "object": "api_key",
            "prefix": display_prefix(self.key_id) + "…",
            **_spec_row(spec),
            "created_at": self.created_at,
            "created_by": self.created_by,
            "revoked_at": self.revoked_at,
            "rotated_to": self.rotated_to,
            "status": self.status(now),
        }


def _list(value: Sequence[str] | None) -> list[str] | None:
    return list(value) if value is not None else None


def _tuple(value: Any) -> tuple[str, ...] | None:
    return tuple(value) if value is not None else None


def _row_to_record(row: Any) -> KeyRecord:
    m = row._mapping
    spec = KeySpec(
        principal=m["principal"],
        roles=tuple(m["roles"]),
        kind=m["kind"],
        team=m["team"],
        scopes=_tuple(m["scopes"]),
        models=_tuple(m["models"]),
        routes=_tuple(m["routes"]),
        collections=_tuple(m["collections"]),
        data_class=m["data_class"],
        regions=_tuple(m["regions"]),
        description=m["description"],
        expires_at=m["expires_at"],
    )
    return KeyRecord(
        key_id=m["key_id"],
        spec=spec,
        created_at=m["created_at"],
        created_by=m["created_by"],
        updated_at=m["updated_at"],
        revoked_at=m["revoked_at"],
        rotated_to=m["rotated_to"],
        salt=m["salt"],
        digest=m["digest"],
    )


def _spec_row(spec: KeySpec) -> dict[str, Any]:
    return {
        "principal": spec.principal,
        "kind": spec.kind,
        "team": spec.team,
        "roles": list(spec.roles),
        "scopes": _list(spec.scopes),
        "models": _list(spec.models),
        "routes": _list(spec.routes),
        "collections": _list(spec.collections),
        "data_class": spec.data_class,
        "regions": _list(spec.regions),
        "description": spec.description,
        "expires_at": spec.expires_at,
    }


class KeyRepository(SqlRepository):
    def create(self, spec: KeySpec, *, created_by: str, now: float | None = None) -> tuple[KeyRecord, str]:
        """A new key and its token (the only time the token exists outside the caller's hands)."""
        now = time.time() if now is None else now
        for _ in range(5):  # key ids are random; a collision just draws again
            token = new_token()
            try:
                with self.transaction("create an API key") as connection:
                    connection.execute(insert(api_keys).values(self._new_row(token.key_id, token.salt, token.digest, spec, created_by, now)))
            except IntegrityError:
                if self.get(token.key_id) is None:
                    raise  # not an id collision: another constraint failed, which is a bug
                continue
            return KeyRecord(token.key_id, spec, now, created_by, now, salt=token.salt, digest=token.digest), token.token
        raise StoreUnavailableError("cannot allocate a unique key id")

    @staticmethod
    def _new_row(key_id: str, salt: str, digest: str, spec: KeySpec, created_by: str, now: float) -> dict[str, Any]:
        return {
            "key_id": key_id,
            "salt": salt,
            "digest": digest,
            **_spec_row(spec),
            "created_at": now,
            "created_by": created_by,
            "updated_at": now,
        }

    def get(self, key_id: str) -> KeyRecord | None:
        row = self._one(select(api_keys).where(api_keys.c.key_id == key_id))
        return _row_to_record(row) if row is not None else None

    def list_keys(
        self, *, principal: str | None = None, team: str | None = None, include_inactive: bool = False, limit: int = 100
    ) -> list[KeyRecord]:
        statement = select(api_keys).order_by(api_keys.c.created_at.desc()).limit(limit)
        if principal is not None:
            statement = statement.where(api_keys.c.principal == principal)
        if team is not None:
            statement = statement.where(api_keys.c.team == team)
        if not include_inactive:
            now = time.time()
            statement = statement.where(api_keys.c.revoked_at.is_(None) | (api_keys.c.revoked_at > now))
            statement = statement.where(api_keys.c.expires_at.is_(None) | (api_keys.c.expires_at > now))
        return [_row_to_record(r) for r in self._all(statement)]

    def changed_since(self, since: float) -> list[KeyRecord]:
        return [_row_to_record(r) for r in self._all(select(api_keys).where(api_keys.c.updated_at >= since))]

    def revoke(self, key_id: str, *, now: float | None = None) -> KeyRecord | None:
        """Revoke now (idempotent: an already revoked key keeps its first revocation time)."""
        now = time.time() if now is None else now
        with self.transaction("revoke an API key") as connection:
            connection.execute(
                update(api_keys)
                .where(api_keys.c.key_id == key_id)
                .where(api_keys.c.revoked_at.is_(None) | (api_keys.c.revoked_at > now))
                .values(revoked_at=now, updated_at=now)
            )
            row = connection.execute(select(api_keys).where(api_keys.c.key_id == key_id)).first()
        return _row_to_record(row) if row is not None else None

    def rotate(
        self, key_id: str, *, created_by: str, grace_s: float = 0.0, now: float | None = None
    ) -> tuple[KeyRecord, KeyRecord, str] | None:
        """Issue a successor with the same grants; the old key stops working after ``grace_s``."""
        now = time.time() if now is None else now
        old = self.get(key_id)
        if old is None:
            return None
        spec = old.spec
        if spec.expires_at is not None:
            # Keep the key's lifetime, counted from the rotation.
            spec = replace(spec, expires_at=now + max(0.0, spec.expires_at - old.created_at))
        token = new_token()
        ends = now + grace_s
        with self.transaction("rotate an API key") as connection:
            connection.execute(insert(api_keys).values(self._new_row(token.key_id, token.salt, token.digest, spec, created_by, now)))
            connection.execute(
                update(api_keys)
                .where(api_keys.c.key_id == key_id)
                .values(
                    revoked_at=ends if old.revoked_at is None else min(old.revoked_at, ends),
                    rotated_to=token.key_id,
                    updated_at=now,
                )
            )
        updated = self.get(key_id)
        assert updated is not None
        new = KeyRecord(token.key_id, spec, now, created_by, now, salt=token.salt, digest=token.digest)
        return updated, new, token.token

    def _one(self, statement: Any) -> Any:
        with self.reading("read API keys") as connection:
            return connection.execute(statement).first()

    def _all(self, statement: Any) -> list[Any]:
        with self.reading("read API keys") as connection:
            return list(connection.execute(statement))
