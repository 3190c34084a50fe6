"""What a review item is, which states it moves through, and the summaries readers get.

```
pending ──claim──► claimed ──approve/edit/reject──► approved | edited | rejected
   ▲  ▲              │ release, lease expiry
   │  └──────────────┘            (SLA passes while open)
   │                              ├─ escalation configured, not yet escalated ─► escalated (claimable again)
   └── escalated ◄────────────────┘
                                  └─ otherwise the default action ─► expired (reject) | approved (approve)
```
"""

from __future__ import annotations

import secrets
from dataclasses import dataclass, field
from typing import Any, Literal, get_args

from headway.types import JSON

Status = Literal["pending", "claimed", "escalated", "approved", "edited", "rejected", "expired"]
Outcome = Literal["approve", "edit", "reject"]

OPEN: frozenset[str] = frozenset({"pending", "claimed", "escalated"})
CLAIMABLE: frozenset[str] = frozenset({"pending", "escalated"})
FINAL: frozenset[str] = frozenset({"approved", "edited", "rejected", "expired"})
RELEASED: frozenset[str] = frozenset({"approved", "edited"})  # the caller gets an answer
STATUSES: tuple[str, ...] = get_args(Status)
# The one meaning of a status filter for the API, the CLI and the console: a group or a status,
# comma-separated; "all" (or no filter) is every status.
STATUS_GROUPS: dict[str, tuple[str, ...]] = {"open": tuple(sorted(OPEN)), "final": tuple(sorted(FINAL)), "all": ()}


def status_filter(raw: str | None) -> tuple[str, ...] | None:
    """The statuses ``raw`` names (``()``: every status); None when a part is neither a group nor a status."""
    if not raw:
        return ()
    statuses: tuple[str, ...] = ()
    for part in (p.strip() for p in raw.split(",")):
        if part == "all":
            return ()
        if part in STATUS_GROUPS:
            statuses += STATUS_GROUPS[part]
        elif part in STATUSES:
            statuses += (part,)
        else:
            return None
    return statuses
OUTCOME_STATUS: dict[str, str] = {"approve": "approved", "edit": "edited", "reject": "rejected"}


def new_review_id() -> str:
    return f"rev_{secrets.token_hex(12)}"


def new_event_id() -> str:
    return f"rve_{secrets.token_hex(12)}"


def encode_roles(roles: list[str] | tuple[str, ...] | frozenset[str]) -> str:
    return "," + ",".join(sorted(set(roles))) + ","


def decode_roles(value: str | None) -> tuple[str, ...]:
    return tuple(r for r in (value or "").split(",") if r)


@dataclass(frozen=True, slots=True)
class Escalation:
    team: str | None
    roles: tuple[str, ...]
    sla_s: float

    def to_dict(self) -> JSON:
        return {"team": self.team, "roles": list(self.roles), "sla_s": self.sla_s}

    @classmethod
    def from_dict(cls, data: JSON | None) -> Escalation | None:
        if not data:
            return None
        return cls(data.get("team"), tuple(data.get("roles") or ()), float(data["sla_s"]))


@dataclass(frozen=True, slots=True)
class ReviewItem:
    review_id: str
    request_id: str
    policy: str
    action: str  # hold | audit
    status: str
    level: int
    team: str | None
    roles: tuple[str, ...]
    reason: str
    caller: str
    caller_team: str | None
    model: str
    created_at: float
    deadline_at: float
    request: JSON
    context: JSON
    findings: JSON
    original: JSON | None
    default_action: str
    status_url: str
    escalation: Escalation | None = None
    subject: str | None = None
    claimed_by: str | None = None
    lease_until: float | None = None
    decided_by: str | None = None
    decided_at: float | None = None
    comment: str | None = None
    edited: JSON | None = None
    webhook_url: str | None = None
    webhook_source: str | None = None
    webhook_state: str | None = None
    webhook_attempts: int = 0
    record_synced: bool = False

    @property
    def open(self) -> bool:
        return self.status in OPEN

    @property
    def final(self) -> bool:
        return self.status in FINAL

    @property
    def released(self) -> JSON | None:
        """The answer the caller gets: the edited one, else the original; None unless released."""
        if self.status == "edited":
            return self.edited
        if self.status == "approved":
            return self.original
        return None

    @property
    def time_to_decision_s(self) -> float | None:
        return None if self.decided_at is None else round(self.decided_at - self.created_at, 3)

    def summary(self) -> JSON:
        """The list form: everything but the conversation and the outputs."""
        return {
            "id": self.review_id,
            "object": "review",
            "request_id": self.request_id,
            "policy": self.policy,
            "action": self.action,
            "status": self.status,
            "escalated": self.level > 0,
            "team": self.team,
            "roles": list(self.roles),
            "reason": self.reason,
            "caller": self.caller,
            "caller_team": self.caller_team,
            "model": self.model,
            "created_at": self.created_at,
            "deadline_at": self.deadline_at,
            "claimed_by": self.claimed_by,
            "lease_until": self.lease_until,
            "decided_by": self.decided_by,
            "decided_at": self.decided_at,
            "comment": self.comment,
            "time_to_decision_s": self.time_to_decision_s,
        }

    def detail(self) -> JSON:
        """The reviewer's view: the summary plus conversation, context, findings and both outputs."""
        return {
            **self.summary(),
            "request": self.request,
            "context": self.context,
            "findings": self.findings,
            "original": self.original,
            "edited": self.edited,
            "default_action": self.default_action,
            "escalation": self.escalation.to_dict() if self.escalation else None,
            "webhook": {"source": self.webhook_source, "state": self.webhook_state, "attempts": self.webhook_attempts}
            if self.webhook_url
            else None,
        }

    def quality(self) -> JSON:
        """``record.quality["review"]``: the decision as a quality signal on the request."""
        data: JSON = {"id": self.review_id, "policy": self.policy, "action": self.action, "status": self.status}
        if self.final:
            data.update(
                outcome=self.status,
                reviewer=self.decided_by,
                decided_at=self.decided_at,
                time_to_decision_s=self.time_to_decision_s,
                escalated=self.level > 0,
            )
            if self.comment:
                data["comment"] = self.comment[:500]
        return data


@dataclass(frozen=True, slots=True)
class ReviewEvent:
    event_id: str
    review_id: str
    at: float
    actor: str
    kind: str  # created | claimed | released | lease_expired | escalated | approved | edited | rejected | expired
    from_status: str | None
    to_status: str
    comment: str | None = None
    detail: JSON = field(default_factory=dict)

    def to_dict(self) -> JSON:
        return {
            "id": self.event_id,
            "at": self.at,
            "actor": self.actor,
            "kind": self.kind,
            "from": self.from_status,
            "to": self.to_status,
            "comment": self.comment,
            "detail": self.detail,
        }


@dataclass(frozen=True, slots=True)
class ReviewQuery:
    status: tuple[str, ...] = ()  # empty: any
    policy: str | None = None
    model: str | None = None
    caller: str | None = None
    team: str | None = None
    request_id: str | None = None
    before: float | None = None  # created_at < before (paging)
    limit: int = 50


def row_to_item(row: Any) -> ReviewItem:
    data = dict(row._mapping)
    return ReviewItem(
        review_id=data["review_id"],
        request_id=data["request_id"],
        policy=data["policy"],
        action=data["action"],
        status=data["status"],
        level=int(data["level"] or 0),
        team=data["team"],
        roles=decode_roles(data["roles"]),
        reason=data["reason"],
        caller=data["caller"],
        caller_team=data["caller_team"],
        subject=data["subject"],
        model=data["model"],
        created_at=float(data["created_at"]),
        deadline_at=float(data["deadline_at"]),
        claimed_by=data["claimed_by"],
        lease_until=data["lease_until"],
        decided_by=data["decided_by"],
        decided_at=data["decided_at"],
        comment=data["comment"],
        request=data["request"] or {},
        context=data["context"] or {},
        findings=data["findings"] or {},
        original=data["original"],
        edited=data["edited"],
        escalation=Escalation.from_dict(data["escalation"]),
        default_action=data["default_action"],
        status_url=data["status_url"],
        webhook_url=data["webhook_url"],
        webhook_source=data["webhook_source"],
        webhook_state=data["webhook_state"],
        webhook_attempts=int(data["webhook_attempts"] or 0),
        record_synced=bool(data["record_synced"]),
    )


def row_to_event(row: Any) -> ReviewEvent:
    data = dict(row._mapping)
    return ReviewEvent(
        event_id=data["event_id"],
        review_id=data["review_id"],
        at=float(data["at"]),
        actor=data["actor"],
        kind=data["kind"],
        from_status=data["from_status"],
        to_status=data["to_status"],
        comment=data["comment"],
        detail=data["detail"] or {},
    )
