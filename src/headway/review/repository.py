"""Review items in the store: every transition is one conditional UPDATE plus its event.

Replicas share the store, so a transition applies only ``WHERE`` the item is still in the
state it was read in: of two replicas (or reviewers) racing, exactly one UPDATE changes a
row and records the event; the other sees ``rowcount == 0`` and reports a conflict (or,
for the sweeper, quietly moves on). Methods are synchronous; callers use
``asyncio.to_thread``. An outage surfaces as ``StoreUnavailableError``; a bug as itself.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Iterator, Sequence
from contextlib import contextmanager
from typing import Any, TypeVar

from sqlalchemy import Connection, and_, delete, func, or_, select, update

from headway.errors import ConflictError, NotFoundError
from headway.review.access import Reviewer
from headway.review.items import (
    CLAIMABLE,
    OPEN,
    OUTCOME_STATUS,
    ReviewEvent,
    ReviewItem,
    ReviewQuery,
    encode_roles,
    new_event_id,
    row_to_event,
    row_to_item,
)
from headway.review.tables import review_events, review_items
from headway.store import SqlRepository
from headway.types import JSON

T = TypeVar("T")
SYSTEM = "system"
_ESCAPE = "\\"


def _like(text: str) -> str:
    return text.replace(_ESCAPE, _ESCAPE * 2).replace("%", _ESCAPE + "%").replace("_", _ESCAPE + "_")


def item_values(item: ReviewItem) -> JSON:
    return {
        "review_id": item.review_id,
        "request_id": item.request_id,
        "policy": item.policy,
        "action": item.action,
        "status": item.status,
        "level": item.level,
        "team": item.team,
        "roles": encode_roles(item.roles),
        "reason": item.reason,
        "caller": item.caller,
        "caller_team": item.caller_team,
        "subject": item.subject,
        "model": item.model,
        "created_at": item.created_at,
        "deadline_at": item.deadline_at,
        "request": item.request,
        "context": item.context,
        "findings": item.findings,
        "original": item.original,
        "edited": item.edited,
        "escalation": item.escalation.to_dict() if item.escalation else None,
        "default_action": item.default_action,
        "status_url": item.status_url,
        "webhook_url": item.webhook_url,
        "webhook_source": item.webhook_source,
        "webhook_state": item.webhook_state,
        "webhook_attempts": item.webhook_attempts,
        "record_synced": item.record_synced,
    }


class ReviewRepository(SqlRepository):
    # -- plumbing -------------------------------------------------------------------------
    @contextmanager
    def _begin(self, what: str) -> Iterator[Connection]:
        with self.transaction(what) as connection:
            yield connection

    def _read(self, what: str, run: Callable[[Connection], T]) -> T:
        with self.reading(what) as connection:
            return run(connection)

    @staticmethod
    def _event(
        connection: Connection,
        item: ReviewItem,
        *,
        at: float,
        actor: str,
        kind: str,
        to_status: str,
        comment: str | None = None,
        detail: JSON | None = None,
    ) -> None:
        connection.execute(
            review_events.insert().values(
                event_id=new_event_id(), review_id=item.review_id, at=at, actor=actor, kind=kind,
                from_status=item.status, to_status=to_status, comment=comment, detail=detail or {},
            )
        )

    @staticmethod
    def _apply(connection: Connection, item: ReviewItem, where: Sequence[Any], values: JSON) -> bool:
        statement = update(review_items).where(review_items.c.review_id == item.review_id, *where).values(**values)
        return int(connection.execute(statement).rowcount or 0) == 1

    def _fresh(self, connection: Connection, review_id: str) -> ReviewItem:
        row = connection.execute(select(review_items).where(review_items.c.review_id == review_id)).first()
        if row is None:
            raise NotFoundError(f"No review {review_id!r}", param="review_id")
        return row_to_item(row)

    # -- create and read ------------------------------------------------------------------
    def create(self, item: ReviewItem, *, actor: str) -> None:
        with self._begin("store the review item") as connection:
            connection.execute(review_items.insert().values(**item_values(item)))
            connection.execute(
                review_events.insert().values(
                    event_id=new_event_id(), review_id=item.review_id, at=item.created_at, actor=actor, kind="created",
                    from_status=None, to_status=item.status, comment=None, detail={"reason": item.reason},
                )
            )

    def get(self, review_id: str) -> ReviewItem | None:
        def run(connection: Connection) -> ReviewItem | None:
            row = connection.execute(select(review_items).where(review_items.c.review_id == review_id)).first()
            return row_to_item(row) if row is not None else None

        return self._read("read the review item", run)

    def events(self, review_id: str) -> list[ReviewEvent]:
        statement = select(review_events).where(review_events.c.review_id == review_id).order_by(review_events.c.at)
        return self._read("read review events", lambda c: [row_to_event(r) for r in c.execute(statement)])

    def find(self, query: ReviewQuery, viewer: Reviewer | None = None) -> list[ReviewItem]:
        c = review_items.c
        statement = select(review_items).order_by(c.created_at.desc()).limit(query.limit)
        if query.status:
            statement = statement.where(c.status.in_(query.status))
        for column, value in ((c.policy, query.policy), (c.model, query.model), (c.caller, query.caller),
                              (c.team, query.team), (c.request_id, query.request_id)):
            if value is not None:
                statement = statement.where(column == value)
        if query.before is not None:
            statement = statement.where(c.created_at < query.before)
        if viewer is not None and not viewer.admin:
            if not viewer.may_read or not viewer.roles:
                return []
            statement = statement.where(
                or_(c.team.is_(None), c.team == viewer.team) if viewer.team is not None else c.team.is_(None),
                or_(*(c.roles.like(f"%,{_like(r)},%", escape=_ESCAPE) for r in sorted(viewer.roles))),
            )
        return self._read("list review items", lambda conn: [row_to_item(r) for r in conn.execute(statement)])

    # -- reviewer transitions ---------------------------------------------------------------
    def claim(self, item: ReviewItem, actor: str, *, lease_s: float, now: float) -> ReviewItem:
        c = review_items.c
        where = [
            c.level == item.level,
            or_(c.status.in_(CLAIMABLE), and_(c.status == "claimed", or_(c.lease_until < now, c.claimed_by == actor))),
        ]
        with self._begin("claim the review item") as connection:
            if self._apply(connection, item, where, {"status": "claimed", "claimed_by": actor, "lease_until": now + lease_s}):
                self._event(connection, item, at=now, actor=actor, kind="claimed", to_status="claimed",
                            detail={"lease_until": now + lease_s})
                return self._fresh(connection, item.review_id)
            raise _conflict(self._fresh(connection, item.review_id), actor, now)

    def release(self, item: ReviewItem, actor: str, *, now: float, force: bool = False) -> ReviewItem:
        c = review_items.c
        back = "escalated" if item.level > 0 else "pending"
        where = [c.status == "claimed", c.level == item.level]
        if not force:
            where.append(c.claimed_by == actor)
        with self._begin("release the review item") as connection:
            if self._apply(connection, item, where, {"status": back, "claimed_by": None, "lease_until": None}):
                self._event(connection, item, at=now, actor=actor, kind="released", to_status=back)
                return self._fresh(connection, item.review_id)
            fresh = self._fresh(connection, item.review_id)
            if fresh.status != "claimed":
                raise ConflictError(f"Review {item.review_id} is {fresh.status}, not claimed.", code="review_not_claimed")
            raise ConflictError(f"Review {item.review_id} is claimed by {fresh.claimed_by}, not by {actor}.", code="review_claimed")

    def decide(
        self,
        item: ReviewItem,
        actor: str,
        outcome: str,
        *,
        now: float,
        comment: str | None = None,
        edited: JSON | None = None,
    ) -> ReviewItem:
        c = review_items.c
        status = OUTCOME_STATUS[outcome]
        where = [
            c.level == item.level,
            or_(c.status.in_(CLAIMABLE), and_(c.status == "claimed", or_(c.claimed_by == actor, c.lease_until < now))),
        ]
        values = {
            "status": status, "decided_by": actor, "decided_at": now, "comment": comment, "edited": edited,
            "lease_until": None, "record_synced": False,
            "webhook_state": "pending" if item.webhook_url else None,
        }
        with self._begin("record the review decision") as connection:
            if self._apply(connection, item, where, values):
                self._event(connection, item, at=now, actor=actor, kind=status, to_status=status, comment=comment,
                            detail={"edited": edited is not None})
                return self._fresh(connection, item.review_id)
            raise _conflict(self._fresh(connection, item.review_id), actor, now)

    # -- the sweeper's transitions ------------------------------------------------------------
    def _candidates(self, where: Sequence[Any], limit: int) -> list[ReviewItem]:
        statement = select(review_items).where(*where).order_by(review_items.c.deadline_at).limit(limit)
        return self._read("scan review items", lambda conn: [row_to_item(r) for r in conn.execute(statement)])

    def expire_leases(self, now: float, *, limit: int = 500) -> list[ReviewItem]:
        """Claimed items whose lease ran out go back to the queue; returns those this call moved."""
        c = review_items.c
        moved: list[ReviewItem] = []
        for item in self._candidates([c.status == "claimed", c.lease_until < now], limit):
            back = "escalated" if item.level > 0 else "pending"
            with self._begin("expire a review lease") as connection:
                where = [c.status == "claimed", c.level == item.level, c.lease_until < now]
                if self._apply(connection, item, where, {"status": back, "claimed_by": None, "lease_until": None}):
                    self._event(connection, item, at=now, actor=SYSTEM, kind="lease_expired", to_status=back,
                                detail={"claimed_by": item.claimed_by})
                    moved.append(self._fresh(connection, item.review_id))
        return moved

    def breach_slas(
        self, now: float, *, limit: int = 500, on_escalated: Callable[[Connection, ReviewItem], None] | None = None
    ) -> list[ReviewItem]:
        """Open items past their deadline escalate once, then take their default action.

        ``on_escalated`` runs in the escalation's transaction (the outbox's notices commit with it)."""
        c = review_items.c
        moved: list[ReviewItem] = []
        for item in self._candidates([c.status.in_(OPEN), c.deadline_at < now], limit):
            where = [c.status.in_(OPEN), c.level == item.level, c.deadline_at < now]
            escalation = item.escalation
            with self._begin("apply a review SLA") as connection:
                if escalation is not None and item.level == 0:
                    values: JSON = {
                        "status": "escalated", "level": 1, "team": escalation.team, "roles": encode_roles(escalation.roles),
                        "deadline_at": now + escalation.sla_s, "claimed_by": None, "lease_until": None,
                    }
                    kind, comment = "escalated", f"SLA passed; escalated to {escalation.team or 'any team'}"
                else:
                    status = "approved" if item.default_action == "approve" else "expired"
                    values = {
                        "status": status, "decided_by": f"{SYSTEM}:sla", "decided_at": now, "lease_until": None,
                        "record_synced": False, "webhook_state": "pending" if item.webhook_url else None,
                    }
                    kind, comment = status, f"SLA passed; default action {item.default_action}"
                if self._apply(connection, item, where, values):
                    self._event(connection, item, at=now, actor=SYSTEM, kind=kind, to_status=str(values["status"]),
                                comment=comment, detail={"deadline_at": item.deadline_at})
                    fresh = self._fresh(connection, item.review_id)
                    if kind == "escalated" and on_escalated is not None:
                        on_escalated(connection, fresh)
                    moved.append(fresh)
        return moved

    # -- webhooks and record sync -------------------------------------------------------------
    def claim_webhooks(self, now: float, *, lease_s: float, limit: int = 100) -> list[ReviewItem]:
        """Decided items whose webhook is due, each claimed for delivery by exactly one replica."""
        c = review_items.c
        due = or_(c.webhook_state == "pending", and_(c.webhook_state == "sending", c.webhook_lease_until < now))
        claimed: list[ReviewItem] = []
        for item in self._candidates([due], limit):
            with self._begin("claim a review webhook") as connection:
                values = {"webhook_state": "sending", "webhook_lease_until": now + lease_s,
                          "webhook_attempts": item.webhook_attempts + 1}
                if self._apply(connection, item, [due, c.webhook_attempts == item.webhook_attempts], values):
                    claimed.append(self._fresh(connection, item.review_id))
        return claimed

    def finish_webhook(self, review_id: str, *, ok: bool) -> None:
        with self._begin("record a review webhook delivery") as connection:
            connection.execute(
                update(review_items).where(review_items.c.review_id == review_id, review_items.c.webhook_state == "sending")
                .values(webhook_state="sent" if ok else "failed", webhook_lease_until=None)
            )

    def unsynced(self, since: float, *, limit: int = 200) -> list[ReviewItem]:
        c = review_items.c
        where = [c.record_synced.is_(False), c.decided_at.is_not(None), c.decided_at >= since]
        return self._candidates(where, limit)

    def mark_synced(self, review_id: str) -> None:
        with self._begin("mark a review synced") as connection:
            connection.execute(update(review_items).where(review_items.c.review_id == review_id).values(record_synced=True))

    # -- numbers --------------------------------------------------------------------------
    def backlog(self) -> tuple[int, float | None]:
        c = review_items.c
        statement = select(func.count(), func.min(c.created_at)).where(c.status.in_(OPEN), c.action == "hold")
        row = self._read("count the review backlog", lambda conn: conn.execute(statement).one())
        return int(row[0] or 0), (float(row[1]) if row[1] is not None else None)

    def decisions_since(self, since: float) -> list[tuple[str, str, int]]:
        """(policy, status, count) of human decisions since ``since``."""
        c = review_items.c
        statement = (
            select(c.policy, c.status, func.count())
            .where(c.decided_at >= since, c.status.in_(tuple(OUTCOME_STATUS.values())), c.decided_by.not_like(f"{SYSTEM}:%"))
            .group_by(c.policy, c.status)
        )
        return self._read("count review decisions", lambda conn: [(r[0], r[1], int(r[2])) for r in conn.execute(statement)])

    # -- erasure --------------------------------------------------------------------------
    def erase(self, identifiers: Iterable[str]) -> int:
        ids = list(identifiers)
        c = review_items.c
        match = or_(c.caller.in_(ids), c.subject.in_(ids))
        with self._begin("erase review items") as connection:
            doomed = select(c.review_id).where(match)
            connection.execute(delete(review_events).where(review_events.c.review_id.in_(doomed)))
            return int(connection.execute(delete(review_items).where(match)).rowcount or 0)


def _conflict(fresh: ReviewItem, actor: str, now: float) -> ConflictError:
    if fresh.final:
        return ConflictError(
            f"Review {fresh.review_id} was already decided: {fresh.status} by {fresh.decided_by}.", code="review_decided"
        )
    if fresh.status == "claimed" and fresh.claimed_by != actor:
        return ConflictError(
            f"Review {fresh.review_id} is claimed by {fresh.claimed_by} until {fresh.lease_until:.0f} (epoch s); "
            "wait for the lease to end or ask them to release it.",
            code="review_claimed",
        )
    return ConflictError(f"Review {fresh.review_id} changed meanwhile (now {fresh.status}); reload it.", code="review_changed")
