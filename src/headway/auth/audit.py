"""The audit trail in the store: append-only, hash-chained, verifiable.

Each record's hash covers its own fields and the previous record's hash, so editing a
record breaks its own hash and deleting one breaks the sequence and the next link; the
head row (``audit_head``) holds the last sequence number and hash, so deleting the tail
shows too. With ``auth.audit.chain_secret`` the hashes are HMACs: someone who can write
to the database but does not hold the secret cannot re-chain after an edit.

Appends serialise on the head row (see ``tables.py``): one chain, any number of writers.
"""

from __future__ import annotations

import hashlib
import hmac
import time
import uuid
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field
from typing import Any

import orjson
from sqlalchemy import insert, select, update

from headway.auth.tables import GENESIS_HASH, audit_head, audit_log
from headway.store import Database, SqlRepository


@dataclass(slots=True)
class AuditEvent:
    """Something someone did that security and compliance need to see later."""

    action: str  # "key.create", "request.denied", "records.erase", "config.loaded", "review.decision", …
    actor: str
    target: str | None = None
    outcome: str = "ok"  # "ok" | "denied" | "failed"
    detail: dict[str, Any] = field(default_factory=dict)
    request_id: str | None = None
    event_id: str = field(default_factory=lambda: f"aud_{uuid.uuid4().hex}")
    created_at: float = field(default_factory=time.time)


@dataclass(frozen=True, slots=True)
class AuditRecord:
    seq: int
    event: AuditEvent
    prev_hash: str
    hash: str

    def to_dict(self) -> dict[str, Any]:
        e = self.event
        return {
            "seq": self.seq,
            "event_id": e.event_id,
            "created_at": e.created_at,
            "actor": e.actor,
            "action": e.action,
            "target": e.target,
            "outcome": e.outcome,
            "request_id": e.request_id,
            "detail": e.detail,
            "prev_hash": self.prev_hash,
            "hash": self.hash,
        }


@dataclass(frozen=True, slots=True)
class AuditProblem:
    seq: int
    event_id: str | None
    kind: str  # "edited" | "deleted" | "link"
    message: str


@dataclass(frozen=True, slots=True)
class VerifyReport:
    checked: int
    head_seq: int
    problems: tuple[AuditProblem, ...]

    @property
    def ok(self) -> bool:
        return not self.problems

    def to_dict(self) -> dict[str, Any]:
        return {
            "ok": self.ok,
            "checked": self.checked,
            "head_seq": self.head_seq,
            "problems": [{"seq": p.seq, "event_id": p.event_id, "kind": p.kind, "message": p.message} for p in self.problems],
        }


def chain_hash(seq: int, event: AuditEvent, prev_hash: str, secret: bytes | None) -> str:
    payload = orjson.dumps(
        [seq, event.event_id, event.created_at, event.actor, event.action, event.target, event.outcome,
         event.request_id, event.detail, prev_hash],
        option=orjson.OPT_SORT_KEYS | orjson.OPT_NON_STR_KEYS,
    )
    if secret:
        return hmac.new(secret, payload, hashlib.sha256).hexdigest()
    return hashlib.sha256(payload).hexdigest()


def normal_json(value: dict[str, Any]) -> dict[str, Any]:
    """``value`` as it reads back from a JSON column (tuples become lists, odd types strings)."""
    result = orjson.loads(orjson.dumps(value, default=str, option=orjson.OPT_NON_STR_KEYS))
    return result if isinstance(result, dict) else {}


def _row_to_record(row: Any) -> AuditRecord:
    m = row._mapping
    event = AuditEvent(
        action=m["action"],
        actor=m["actor"],
        target=m["target"],
        outcome=m["outcome"],
        detail=m["detail"] if isinstance(m["detail"], dict) else {},
        request_id=m["request_id"],
        event_id=m["event_id"],
        created_at=m["created_at"],
    )
    return AuditRecord(seq=m["seq"], event=event, prev_hash=m["prev_hash"], hash=m["hash"])


class AuditLog(SqlRepository):
    """Synchronous repository over the store's ``Database``."""

    def __init__(self, database: Database, *, secret: bytes | None = None) -> None:
        super().__init__(database)
        self.secret = secret

    def append(self, events: Sequence[AuditEvent]) -> list[AuditRecord]:
        if not events:
            return []
        with self.transaction("append to the audit trail") as connection:
            # Lock first, read second: the UPDATE takes the head row's lock (the write lock on
            # SQLite) so no other writer can read the same head and fork the chain.
            connection.execute(update(audit_head).where(audit_head.c.id == 1).values(updated_at=time.time()))
            head = connection.execute(select(audit_head.c.seq, audit_head.c.hash).where(audit_head.c.id == 1)).one()
            seq, prev = int(head.seq), str(head.hash)
            records = []
            for event in events:
                # Hash exactly what the store will give back: JSON-normal detail.
                event.detail = normal_json(event.detail)
                seq += 1
                digest = chain_hash(seq, event, prev, self.secret)
                records.append(AuditRecord(seq, event, prev, digest))
                prev = digest
            connection.execute(insert(audit_log), [r.to_dict() for r in records])
            connection.execute(update(audit_head).where(audit_head.c.id == 1).values(seq=seq, hash=prev))
        return records

    def records(self, *, limit: int = 100, after_seq: int | None = None, action: str | None = None) -> list[AuditRecord]:
        statement = select(audit_log)
        if after_seq is not None:
            statement = statement.where(audit_log.c.seq > after_seq).order_by(audit_log.c.seq.asc())
        else:
            statement = statement.order_by(audit_log.c.seq.desc())
        if action is not None:
            statement = statement.where(audit_log.c.action == action)
        with self.reading("read the audit trail") as connection:
            return [_row_to_record(r) for r in connection.execute(statement.limit(limit))]

    def _scan(self, batch: int = 2000) -> Iterator[AuditRecord]:
        last = 0
        while True:
            with self.reading("read the audit trail") as connection:
                rows = list(
                    connection.execute(select(audit_log).where(audit_log.c.seq > last).order_by(audit_log.c.seq).limit(batch))
                )
            if not rows:
                return
            for row in rows:
                yield _row_to_record(row)
            last = rows[-1].seq

    def verify(self) -> VerifyReport:
        """Walk the whole chain; every edited, deleted or re-linked record is named."""
        problems: list[AuditProblem] = []
        expected_seq, prev, checked = 1, GENESIS_HASH, 0
        for record in self._scan():
            checked += 1
            if record.seq > expected_seq:
                missing = f"#{expected_seq}" if record.seq == expected_seq + 1 else f"#{expected_seq}–#{record.seq - 1}"
                problems.append(AuditProblem(expected_seq, None, "deleted", f"record {missing} was deleted (gap before #{record.seq})"))
            elif record.prev_hash != prev:
                problems.append(
                    AuditProblem(record.seq, record.event.event_id, "link",
                                 f"record #{record.seq} ({record.event.event_id}) does not link to the record before it")
                )
            if chain_hash(record.seq, record.event, record.prev_hash, self.secret) != record.hash:
                problems.append(
                    AuditProblem(record.seq, record.event.event_id, "edited",
                                 f"record #{record.seq} ({record.event.event_id}, {record.event.action}) was edited: its hash does not match its contents")
                )
            expected_seq, prev = record.seq + 1, record.hash
        with self.reading("read the audit trail") as connection:
            head = connection.execute(select(audit_head.c.seq, audit_head.c.hash).where(audit_head.c.id == 1)).first()
        head_seq = int(head.seq) if head is not None else 0
        last_seq = expected_seq - 1
        if head is None:
            problems.append(AuditProblem(0, None, "deleted", "the audit head row is missing"))
        elif head_seq > last_seq:
            missing = f"#{last_seq + 1}" if head_seq == last_seq + 1 else f"#{last_seq + 1}–#{head_seq}"
            problems.append(AuditProblem(last_seq + 1, None, "deleted", f"record {missing} at the end of the trail was deleted"))
        elif head_seq == last_seq and head.hash != prev:
            problems.append(AuditProblem(last_seq, None, "edited", f"record #{last_seq} does not match the chain head"))
        return VerifyReport(checked=checked, head_seq=head_seq, problems=tuple(problems))
