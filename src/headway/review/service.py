"""``ReviewService``: everything the review part holds for one runtime (``runtime.review``).

It screens requests against the policies, creates items, answers callers (at once or
after a wait), applies reviewers' transitions with access checks, and runs the sweeper:
lease expiry, SLAs (escalation, default action), webhook delivery and record sync. Every
transition, whoever applied it, ends in ``_moved``: metrics, the audit trail, a wake-up
for waiting callers on every replica, and a nudge to the sweeper to deliver and sync.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass, replace
from typing import Any, Protocol

from headway.auth import AuditEvent, Subject
from headway.backends import Backend
from headway.config import ReviewConfig
from headway.errors import APIError, HeadwayError, InvalidRequestError, NotFoundError
from headway.observe import BackgroundTask, FeedbackStore, every
from headway.review.access import Reviewer
from headway.review.classifier import Classifier, Serve
from headway.review.items import (
    OUTCOME_STATUS,
    Escalation,
    ReviewEvent,
    ReviewItem,
    ReviewQuery,
    new_review_id,
)
from headway.review.metrics import AGREEMENT_WINDOW_S, ReviewMetrics
from headway.review.notify import METADATA_KEY as WEBHOOK_KEY
from headway.review.notify import DecisionWebhooks, caller_webhook
from headway.review.policy import Match, Policies, facts_of, findings_of, review_requested
from headway.review.quality import RecordSync
from headway.review.release import (
    Answer,
    answer,
    as_sse,
    edited_completion,
    edited_tool_calls,
    parse_wait,
    preference_applied,
    status_url,
    wants_ticket,
)
from headway.review.repository import ReviewRepository
from headway.review.waiters import Waiters
from headway.store import Database, Outbox, Store
from headway.types import JSON, CallContext, RequestRecord

log = logging.getLogger("headway.review")

MAX_COMMENT_CHARS = 10_000
SYNC_HORIZON_S = 86_400  # a record that has not arrived after a day never will
_FINDING_KEYS = ("injection", "contract", "contract_error", "contract_repairs", "pii_redacted_upstream")


class _Audit(Protocol):
    def append(self, event: AuditEvent) -> None: ...


@dataclass(frozen=True, slots=True)
class Screening:
    """Which policy a request falls under before the model answers (``None``: none yet)."""

    match: Match | None = None

    @property
    def holds(self) -> bool:
        return self.match is not None and self.match.holds


NOT_SCREENED = Screening()


@dataclass(frozen=True, slots=True)
class SweepReport:
    leases_expired: int = 0
    escalated: int = 0
    defaulted: int = 0
    webhooks: int = 0
    synced: int = 0


class ReviewService:
    def __init__(
        self,
        config: ReviewConfig,
        database: Database,
        *,
        public_url: str | None = None,
        redact: Callable[[Any], Any] = lambda value: value,
        audit: _Audit | None = None,
        feedback: FeedbackStore | None = None,
        metrics_registry: Any | None = None,
        metrics_enabled: bool = True,
    ) -> None:
        self.config = config
        self.policies = Policies(config)
        self.repository = ReviewRepository(database)
        self.public_url = public_url
        self.metrics = ReviewMetrics(metrics_registry, enabled=metrics_enabled)
        self.waiters = Waiters(self._read, poll_interval=config.poll_interval_ms / 1000)
        self.webhooks = DecisionWebhooks(config, Outbox(database))
        self.classifier = Classifier()  # its ``serve`` (the gateway's own request path) arrives at ``start``
        self._redact = redact
        self._audit = audit
        self._sync = RecordSync(database, feedback)
        self._kick = asyncio.Event()
        self._sweeper = BackgroundTask("headway-review-sweeper")
        self._creating: set[asyncio.Task[None]] = set()  # audit items being stored: finished at close
        self._delivering: set[asyncio.Task[None]] = set()  # webhooks: cancelled at close, resent after their lease

    # -- lifecycle --------------------------------------------------------------------------
    async def start(self, backend: Backend | None, *, serve: Serve | None = None) -> None:
        """``serve`` runs a classifier's request through the gateway's own path (recorded, limited, failed over)."""
        if serve is not None:
            self.classifier.serve = serve
        self._kick = asyncio.Event()
        await self.waiters.start(backend)
        self._sweeper.start(self._sweep_forever)

    async def close(self) -> None:
        await self._sweeper.close()
        await asyncio.gather(*self._creating, return_exceptions=True)
        for task in list(self._delivering):
            task.cancel()
        await asyncio.gather(*self._delivering, return_exceptions=True)
        await self.waiters.close()
        await self.webhooks.close()

    def backlog(self) -> tuple[int, float | None] | None:
        """``(items waiting, age of the oldest)`` as of the last sweep (``watch_review_queue`` source)."""
        count, oldest = self.metrics.backlog
        return count, (time.time() - oldest if oldest is not None else None)

    def erase(self, subject: Subject) -> int:
        """The erasure hook: a subject's items go, whoever's queue they are in."""
        return self.repository.erase(subject.identifiers)

    # -- the request path ---------------------------------------------------------------------
    def screen(self, request_id: str, model: str, team: str | None, body: JSON, quality: Mapping[str, Any]) -> Screening:
        metadata = body.get("metadata")
        if isinstance(metadata, Mapping) and WEBHOOK_KEY in metadata:
            caller_webhook(metadata, self.config)  # refuse a bad webhook URL before the model is paid for
        match = self.policies.match(facts_of(request_id, model, team, body, quality))
        return NOT_SCREENED if match is None else Screening(match)

    def rescreen(self, record: RequestRecord, body: JSON, answer: JSON | None = None) -> Match | None:
        """The policy now that the answer (its text, JSON, tool calls and output contract's outcome) is known."""
        return self.policies.match(facts_of(record.request_id, record.model, record.team, body, record.quality, answer))

    def settled_at_screen(self, screening: Screening, record: RequestRecord) -> bool:
        """No policy matched at the screen, and none can after the answer: each reads only the
        request, and no guard has asked for review since. ``judge`` would find nothing."""
        return screening.match is None and self.policies.decided_by_request and not review_requested(record.quality)

    async def judge(self, ctx: CallContext, record: RequestRecord, body: JSON, answer: JSON | None = None) -> Match | None:
        """``rescreen``, after asking the classifiers of the policies that need one (concurrently).

        Each verdict (label or failure, and the classifier call's own request id) goes on the
        record as ``quality["classifier"][<policy>]``."""
        facts = facts_of(record.request_id, record.model, record.team, body, record.quality, answer)
        asking = self.policies.to_classify(facts)
        if not asking:
            return self.policies.match(facts)
        found = await asyncio.gather(*(self.classifier.judge(name, config, ctx, body, answer) for name, config in asking))
        verdicts = {name: verdict for (name, _), verdict in zip(asking, found, strict=True)}
        for name, verdict in verdicts.items():
            self.metrics.verdict(name, verdict.label)
            if verdict.label is None:
                log.warning("review policy %s: %s (request %s)", name, verdict.error, record.request_id)
        record.quality["classifier"] = {name: verdict.to_dict() for name, verdict in verdicts.items()}
        return self.policies.match(replace(facts, verdicts=verdicts))

    def new_item(
        self,
        record: RequestRecord,
        body: JSON,
        answer: JSON | None,
        match: Match,
        *,
        caller: str,
        headers: Mapping[str, str],
        review_id: str | None = None,
    ) -> ReviewItem:
        now = time.time()
        review_id = review_id or new_review_id()
        config = match.config
        raw_metadata = body.get("metadata")
        metadata: Mapping[str, Any] = raw_metadata if isinstance(raw_metadata, Mapping) else {}
        webhook_url, source = (config.webhook.url, "policy") if config.webhook is not None else (None, None)
        if webhook_url is None and (url := caller_webhook(metadata, self.config)) is not None:
            webhook_url, source = url, "caller"
        findings = {k: record.quality[k] for k in _FINDING_KEYS if k in record.quality}
        findings["guard_findings"] = sorted(findings_of(record.quality))
        findings["review_requested"] = review_requested(record.quality)
        escalation = config.escalation
        subject = metadata.get("subject") or metadata.get("user") or body.get("user")
        return ReviewItem(
            review_id=review_id,
            request_id=record.request_id,
            policy=match.policy,
            action=config.action,
            status="pending",
            level=0,
            team=config.reviewers.team,
            roles=tuple(config.reviewers.roles),
            reason=match.reason,
            caller=caller,
            caller_team=record.team,
            subject=str(subject)[:200] if subject is not None else None,
            model=record.model,
            created_at=now,
            deadline_at=now + config.sla_s,
            request=self._redact({k: v for k, v in body.items() if k != "stream_options"}),
            context=self._redact({"citations": (answer or {}).get("citations"), "retrieval": record.quality.get("retrieval")}),
            findings=self._redact(findings),
            original=answer,
            default_action=config.default_action,
            escalation=None if escalation is None else Escalation(escalation.team, tuple(escalation.roles), escalation.sla_s),
            status_url=status_url(review_id, public_url=self.public_url, headers=headers),
            webhook_url=webhook_url,
            webhook_source=source,
        )

    async def create(self, item: ReviewItem, *, actor: str) -> ReviewItem:
        await asyncio.to_thread(self.repository.create, item, actor=actor)
        self.metrics.created(item)
        return item

    def create_later(self, item: ReviewItem, *, actor: str) -> None:
        """An ``audit`` item: the answer is already on its way, so the write stays off the hot path."""

        async def create() -> None:
            try:
                await self.create(item, actor=actor)
            except HeadwayError as exc:
                log.error("could not store audit review item %s for request %s: %s", item.review_id, item.request_id, exc)
            except Exception:  # a bug, not an outage: said now, with its traceback, not when the task is collected
                log.exception("storing audit review item %s for request %s failed", item.review_id, item.request_id)

        task = asyncio.create_task(create(), name=f"headway-review-audit-{item.review_id}")
        self._creating.add(task)
        task.add_done_callback(self._creating.discard)

    # -- reading --------------------------------------------------------------------------------
    async def _read(self, review_id: str) -> ReviewItem | None:
        return await asyncio.to_thread(self.repository.get, review_id)

    async def visible(self, review_id: str, reviewer: Reviewer) -> ReviewItem:
        item = await self._read(review_id)
        if item is None or not reviewer.sees(item):
            raise NotFoundError(f"No review {review_id!r}", param="review_id", code="review_not_found")
        return item

    async def events(self, review_id: str) -> list[ReviewEvent]:
        return await asyncio.to_thread(self.repository.events, review_id)

    async def find(self, query: ReviewQuery, reviewer: Reviewer) -> list[ReviewItem]:
        return await asyncio.to_thread(self.repository.find, query, reviewer)

    async def for_caller(self, review_id: str, *, caller: str, viewer: Reviewer | None, wait: float | None) -> ReviewItem:
        """The item as its caller (or a reviewer who sees it) may read it, after waiting up to ``wait`` s."""
        item = await self._read(review_id)
        if item is None or not (item.caller == caller or (viewer is not None and viewer.sees(item))):
            raise NotFoundError(f"No review {review_id!r}", param="review_id", code="review_not_found")
        if wait and item.open:
            item = await self.waiters.wait(review_id, wait) or item
        return item

    async def held_status_url(self, request_id: str) -> str | None:
        """The status URL of the item holding ``request_id``'s answer, if one does (for a 503 cut by shutdown)."""
        found = await asyncio.to_thread(self.repository.find, ReviewQuery(request_id=request_id, limit=1), None)
        return found[0].status_url if found and found[0].action == "hold" else None

    async def rejoin(self, request_id: str, *, prefer: str | None, stream: bool = False, include_usage: bool = False) -> Answer | None:
        """A retry of a held request (same Idempotency-Key, any replica): the same item's answer now.

        Honours ``Prefer: wait=N`` and ``review=ticket`` like the first call; raises the
        typed ``review_pending``/``review_rejected`` errors. None when no item holds it.
        """
        found = await asyncio.to_thread(self.repository.find, ReviewQuery(request_id=request_id, limit=1), None)
        if not found or found[0].action != "hold":
            return None
        item = found[0]
        wait = parse_wait(prefer, self.config.max_wait_s)
        if wait and item.open:
            item = await self.waiters.wait(item.review_id, wait) or item
        try:
            reply = answer(item, as_ticket=wants_ticket(prefer))
        except APIError as error:  # still open (review_pending) or refused: the typed error, as on the first call
            error.headers.update(preference_applied(wait))
            raise
        reply.headers.update(preference_applied(wait))
        if reply.status == 200 and stream:
            reply.chunks = as_sse(reply.body, include_usage)
        return reply

    # -- reviewers' transitions ----------------------------------------------------------------
    async def claim(self, review_id: str, reviewer: Reviewer) -> ReviewItem:
        item = await self.visible(review_id, reviewer)
        reviewer.check_decide(item)
        fresh = await asyncio.to_thread(
            self.repository.claim, item, reviewer.name, lease_s=self.config.lease_s, now=time.time()
        )
        self._record_audit("review.claim", reviewer.name, fresh)
        return fresh

    async def release(self, review_id: str, reviewer: Reviewer) -> ReviewItem:
        item = await self.visible(review_id, reviewer)
        reviewer.check_decide(item)
        fresh = await asyncio.to_thread(self.repository.release, item, reviewer.name, now=time.time(), force=reviewer.admin)
        self._record_audit("review.release", reviewer.name, fresh)
        return fresh

    async def decide(
        self, review_id: str, reviewer: Reviewer, outcome: str, *, comment: str | None = None, output: str | None = None,
        tool_calls: Any = None,
    ) -> ReviewItem:
        """``edit`` takes the answer's new text (``output``) or new arguments for its tool calls (``tool_calls``)."""
        if outcome not in OUTCOME_STATUS:
            raise InvalidRequestError("'decision' must be one of approve, edit, reject", param="decision")
        if comment is not None and (not isinstance(comment, str) or len(comment) > MAX_COMMENT_CHARS):
            raise InvalidRequestError(f"'comment' must be a string of at most {MAX_COMMENT_CHARS} characters", param="comment")
        item = await self.visible(review_id, reviewer)
        reviewer.check_decide(item)
        edited: JSON | None = None
        if outcome == "edit" and tool_calls is not None:
            if output is not None:
                raise InvalidRequestError("edit either the 'output' text or the 'tool_calls', not both", param="tool_calls")
            edited = edited_tool_calls(item.original, tool_calls)
        elif outcome == "edit":
            edited = edited_completion(item.original, output or "", item.model)
        elif output is not None or tool_calls is not None:
            raise InvalidRequestError("'output' and 'tool_calls' are only for the edit decision", param="output" if output is not None else "tool_calls")
        if outcome == "approve" and item.original is None:
            raise InvalidRequestError(
                "There is no model answer to approve (it broke its output contract): edit it or reject it.",
                param="decision", code="review_nothing_to_approve",
            )
        fresh = await asyncio.to_thread(
            self.repository.decide, item, reviewer.name, outcome, now=time.time(), comment=comment or None, edited=edited
        )
        await self._moved(fresh, actor=reviewer.name)
        return fresh

    # -- after every transition that matters to callers -----------------------------------------
    async def _moved(self, item: ReviewItem, *, actor: str) -> None:
        self.metrics.moved(item)
        self._record_audit("review.escalate" if item.status == "escalated" else "review.decision", actor, item)
        if item.final:
            await self.waiters.announce(item.review_id)
            self._kick.set()

    def _record_audit(self, action: str, actor: str, item: ReviewItem) -> None:
        if self._audit is None:
            return
        detail = {"policy": item.policy, "status": item.status, "action": item.action}
        if item.comment and item.final:
            detail["comment"] = item.comment[:500]
        self._audit.append(AuditEvent(action, actor, target=f"review:{item.review_id}", request_id=item.request_id, detail=detail))

    # -- the sweeper -------------------------------------------------------------------------------
    async def _sweep_forever(self) -> None:
        # At once, then every interval or when kicked; one failed sweep (store down) is logged and does not end it.
        await every(self.config.sweep_interval_s, self.sweep_once, name="review sweep", first_delay=0, wake=self._kick, logger=log)

    async def sweep_once(self, now: float | None = None) -> SweepReport:
        """One pass; safe on every replica at once (each transition applies once). ``now`` for tests."""
        now = time.time() if now is None else now
        expired = await asyncio.to_thread(self.repository.expire_leases, now)
        # An escalation's notices (team, caller) enter the outbox in the escalation's transaction, before any decision.
        moved = await asyncio.to_thread(self.repository.breach_slas, now, on_escalated=self.webhooks.enqueue_escalation)
        for item in moved:
            await self._moved(item, actor="system:sla")
        webhooks = await self._deliver_webhooks(now)
        synced = await self._sync_records(now)
        self.metrics.backlog = await asyncio.to_thread(self.repository.backlog)
        self.metrics.set_agreement(await asyncio.to_thread(self.repository.decisions_since, now - AGREEMENT_WINDOW_S))
        escalated = sum(1 for i in moved if i.status == "escalated")
        return SweepReport(len(expired), escalated, len(moved) - escalated, webhooks, synced)

    async def _deliver_webhooks(self, now: float) -> int:
        lease = self.config.webhook_max_attempts * (self.config.webhook_timeout_s + 30.0)
        due = await asyncio.to_thread(self.repository.claim_webhooks, now, lease_s=lease)
        for item in due:
            task = asyncio.create_task(self._deliver(item), name=f"headway-review-webhook-{item.review_id}")
            self._delivering.add(task)
            task.add_done_callback(self._delivering.discard)
        return len(due)

    async def _deliver(self, item: ReviewItem) -> None:
        try:
            delivery = await self.webhooks.deliver(item)
        except HeadwayError as exc:
            log.warning("review webhook for %s failed: %s", item.review_id, exc)
            delivery = None
        ok = delivery is not None and delivery.ok
        if not ok:
            log.warning("review webhook for %s was not accepted: %s", item.review_id, getattr(delivery, "error", "no sender"))
        await asyncio.to_thread(self.repository.finish_webhook, item.review_id, ok=ok)

    async def _sync_records(self, now: float) -> int:
        synced = 0
        for item in await asyncio.to_thread(self.repository.unsynced, now - SYNC_HORIZON_S):
            if await asyncio.to_thread(self._sync.sync, item):
                await asyncio.to_thread(self.repository.mark_synced, item.review_id)
                synced += 1
        return synced


def build_review_service(config: Any, store: Store, *, auth: Any, observability: Any) -> ReviewService:
    """The runtime's review service; registers its erasure hook."""
    metrics = observability.metrics
    service = ReviewService(
        config.review,
        store.database,
        public_url=config.server.public_url,
        redact=auth.guards.redactor.value,
        audit=auth.audit,
        feedback=observability.feedback,
        metrics_registry=metrics.registry,
        metrics_enabled=metrics.enabled,
    )
    auth.erasure.register("reviews", service.erase)
    observability.watch_review_queue(service.backlog)
    return service
