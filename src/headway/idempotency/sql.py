"""``SqlIdempotencyStore``: the keys in the store (SQLite or PostgreSQL), so every replica sees them.

``begin`` is an insert that ignores conflicts: the one insert that lands owns the key.
Every later change is a conditional ``UPDATE`` (owner and state as read), so a replica
taking over an abandoned key and the late original owner cannot both write an outcome.
"""

from __future__ import annotations

from typing import Any

from sqlalchemy import and_, delete, select, update

from headway.idempotency.base import Done, Entry, Mismatch, Outcome, Running, Started
from headway.idempotency.tables import idempotency_keys as keys
from headway.store import SqlRepository


def _entry(row: Any) -> Entry:
    data = dict(row._mapping)
    return Entry(
        scope=data["scope"], key=data["key"], fingerprint=data["fingerprint"], request_id=data["request_id"],
        state=data["state"], owner=data["owner"], lease_until=float(data["lease_until"]),
        created_at=float(data["created_at"]), expires_at=float(data["expires_at"]), status=data["status"],
        headers=dict(data["headers"] or {}), body=bytes(data["body"]) if data["body"] is not None else None,
        review_id=data["review_id"],
    )


class SqlIdempotencyStore(SqlRepository):
    def begin(
        self, scope: str, key: str, fingerprint: str, request_id: str, owner: str, *, now: float, lease_s: float, ttl_s: float
    ) -> Outcome:
        fresh = {
            "fingerprint": fingerprint, "request_id": request_id, "state": "running", "owner": owner,
            "lease_until": now + lease_s, "created_at": now, "expires_at": now + ttl_s,
            "status": None, "headers": None, "body": None, "review_id": None,
        }
        where = and_(keys.c.scope == scope, keys.c.key == key)
        with self.transaction("begin an idempotent request") as connection:
            inserted = connection.execute(
                self.database.insert_ignoring_conflicts(keys, key=["scope", "key"]).values(scope=scope, key=key, **fresh)
            )
            seen = _entry(connection.execute(select(keys).where(where)).one())
            # Ours when the row is the one just written: PostgreSQL (psycopg) reports rowcount -1 for
            # INSERT … ON CONFLICT DO NOTHING, so the owner (unique per request) decides, not rowcount alone.
            if inserted.rowcount == 1 or (seen.owner == owner and seen.request_id == request_id and seen.state == "running"):
                return Started(seen)
            if seen.expires_at <= now:  # an outcome past its TTL counts as never seen
                replaced = connection.execute(update(keys).where(where, keys.c.expires_at == seen.expires_at).values(**fresh))
                if replaced.rowcount == 1:
                    return Started(_entry(connection.execute(select(keys).where(where)).one()))
                seen = _entry(connection.execute(select(keys).where(where)).one())
        if seen.fingerprint != fingerprint:
            return Mismatch(seen)
        return Done(seen) if seen.state == "done" else Running(seen)

    def take_over(self, seen: Entry, request_id: str, owner: str, *, now: float, lease_s: float) -> Entry | None:
        """Own a running key whose owner stopped renewing its lease; None when someone else moved first."""
        where = and_(keys.c.scope == seen.scope, keys.c.key == seen.key)
        with self.transaction("take over an abandoned idempotent request") as connection:
            moved = connection.execute(
                update(keys)
                .where(where, keys.c.state == "running", keys.c.owner == seen.owner, keys.c.lease_until < now)
                .values(owner=owner, request_id=request_id, lease_until=now + lease_s)
            )
            if moved.rowcount != 1:
                return None
            return _entry(connection.execute(select(keys).where(where)).one())

    def renew(self, scope: str, key: str, owner: str, *, until: float) -> bool:
        with self.transaction("renew an idempotency lease") as connection:
            renewed = connection.execute(
                update(keys)
                .where(keys.c.scope == scope, keys.c.key == key, keys.c.owner == owner, keys.c.state == "running")
                .values(lease_until=until)
            )
            return renewed.rowcount == 1

    def complete(
        self, scope: str, key: str, owner: str, *, status: int, headers: dict[str, str], body: bytes, review_id: str | None
    ) -> bool:
        with self.transaction("store an idempotent outcome") as connection:
            done = connection.execute(
                update(keys)
                .where(keys.c.scope == scope, keys.c.key == key, keys.c.owner == owner, keys.c.state == "running")
                .values(state="done", status=status, headers=headers, body=body, review_id=review_id)
            )
            return done.rowcount == 1

    def release(self, scope: str, key: str, owner: str) -> None:
        """Forget a key whose request should run again on retry (an outage, a rate limit)."""
        with self.transaction("release an idempotency key") as connection:
            connection.execute(
                delete(keys).where(keys.c.scope == scope, keys.c.key == key, keys.c.owner == owner, keys.c.state == "running")
            )

    def get(self, scope: str, key: str) -> Entry | None:
        with self.reading("read an idempotency key") as connection:
            row = connection.execute(select(keys).where(keys.c.scope == scope, keys.c.key == key)).first()
        return _entry(row) if row is not None else None

    def purge(self, now: float) -> int:
        with self.transaction("purge expired idempotency keys") as connection:
            return int(connection.execute(delete(keys).where(keys.c.expires_at <= now)).rowcount or 0)
