"""Retrieval-augmented chat: find passages, inject them, return citations.

The chat handler calls ``augment`` once, before routing. Collections come from the
request (``"retrieval": {"collections": [...], "k": N, "filters": {...}}``, removed
before the body goes upstream) or from the model's config (``models.X.retrieval``).
A retrieval that fails or overruns ``retrieval.timeout_s`` never fails the request: it
answers without context, flagged ``x-headway-retrieval: failed`` and in
``record.quality["retrieval"]``.

Access: ``allowed`` is the set of collections the caller may read (``None``: all). A
collection the request names but may not read is refused (403); one named by the
model's config is skipped for that caller and noted as ``denied``.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Container
from dataclasses import dataclass, field
from typing import Any

from headway.errors import HeadwayError, InvalidRequestError, NotFoundError, PermissionDeniedError
from headway.retrieval.search import Passage
from headway.retrieval.service import Retriever
from headway.routing import Route
from headway.types import JSON, RequestRecord

log = logging.getLogger("headway.retrieval")

HEADER = "x-headway-retrieval"
_PREAMBLE = (
    "Use the numbered passages below to answer when they are relevant, and cite them as [n]. "
    "If they do not contain the answer, say so rather than guessing."
)


@dataclass(slots=True)
class RagOutcome:
    status: str | None = None  # None: no retrieval for this request; else hit | miss | failed
    citations: list[JSON] = field(default_factory=list)

    @property
    def headers(self) -> dict[str, str]:
        return {HEADER: self.status} if self.status else {}

    def decorate(self, body: JSON) -> JSON:
        """The response body with ``citations`` added when retrieval ran."""
        if self.status is None:
            return body
        return {**body, "citations": self.citations}


@dataclass(frozen=True, slots=True)
class _Plan:
    collections: list[str]
    k: int
    filters: dict[str, Any]
    explicit: bool


def _plan(body: JSON, route: Route) -> _Plan | None:
    requested = body.pop("retrieval", None)
    if requested is None:
        config = getattr(route.config, "retrieval", None)
        if config is None:
            return None
        return _Plan(list(config.collections), config.k, {}, explicit=False)
    if not isinstance(requested, dict):
        raise InvalidRequestError(
            "'retrieval' must be an object with 'collections'", param="retrieval", code="invalid_type"
        )
    unknown = set(requested) - {"collections", "k", "filters"}
    if unknown:
        raise InvalidRequestError(
            f"'retrieval' has unknown keys: {', '.join(sorted(map(str, unknown)))}", param="retrieval"
        )
    collections = requested.get("collections")
    if (
        not isinstance(collections, list)
        or not collections
        or not all(isinstance(c, str) and c for c in collections)
    ):
        raise InvalidRequestError(
            "'retrieval.collections' must be a non-empty array of collection names",
            param="retrieval.collections",
        )
    k = requested.get("k", 4)
    if not isinstance(k, int) or isinstance(k, bool) or not 1 <= k <= 50:
        raise InvalidRequestError("'retrieval.k' must be an integer between 1 and 50", param="retrieval.k")
    filters = requested.get("filters")
    filters = {} if filters is None else filters
    if not isinstance(filters, dict):
        raise InvalidRequestError("'retrieval.filters' must be an object", param="retrieval.filters")
    return _Plan(list(dict.fromkeys(collections)), k, filters, explicit=True)


def last_user_text(messages: Any) -> str:
    for message in reversed(messages if isinstance(messages, list) else []):
        if isinstance(message, dict) and message.get("role") == "user":
            content = message.get("content")
            if isinstance(content, str):
                return content
            if isinstance(content, list):
                return " ".join(
                    str(p.get("text", "")) for p in content if isinstance(p, dict) and p.get("type") == "text"
                )
    return ""


def context_message(passages: list[Passage], max_chars: int) -> tuple[str, list[Passage]]:
    parts = [_PREAMBLE]
    used: list[Passage] = []
    size = len(_PREAMBLE)
    for number, passage in enumerate(passages, start=1):
        heading = f"[{number}] {passage.title or passage.doc_key}" + (
            f" ({passage.source})" if passage.source else ""
        )
        block = f"{heading}\n{passage.text}"
        if used and size + len(block) + 2 > max_chars:
            break
        parts.append(block[: max(0, max_chars - size - 2)])
        size += len(block) + 2
        used.append(passage)
    return "\n\n".join(parts), used


def inject(body: JSON, content: str) -> None:
    """Insert the context as a system message after the leading system/developer messages."""
    messages = body["messages"]
    position = 0
    while (
        position < len(messages)
        and isinstance(messages[position], dict)
        and messages[position].get("role") in ("system", "developer")
    ):
        position += 1
    body["messages"] = [*messages[:position], {"role": "system", "content": content}, *messages[position:]]


async def augment(
    retriever: Retriever | None,
    route: Route,
    body: JSON,
    record: RequestRecord,
    allowed: Container[str] | None,
) -> RagOutcome:
    """Augment ``body`` in place; ``allowed`` is ``CallContext.attributes["allowed_collections"]``."""
    plan = _plan(body, route)
    if plan is None:
        return RagOutcome()
    if retriever is None:
        record.quality["retrieval"] = {
            "status": "failed",
            "error": "no retriever in this process (store without an engine)",
        }
        return RagOutcome(status="failed")
    collections = plan.collections
    denied: list[str] = []
    if allowed is not None:
        denied = [c for c in collections if c not in allowed]
        if denied and plan.explicit:
            raise PermissionDeniedError(
                f"You may not read collection {denied[0]!r}",
                param="retrieval.collections",
                code="collection_forbidden",
            )
        collections = [c for c in collections if c in allowed]
    if plan.explicit:
        for name in collections:
            if not await retriever.known(name):
                raise NotFoundError(
                    f"No collection {name!r}", param="retrieval.collections", code="collection_not_found"
                )
    started = time.perf_counter()
    quality: JSON = {"collections": collections, **({"denied": denied} if denied else {})}
    query = last_user_text(body.get("messages"))
    outcome = RagOutcome(status="miss")
    fallbacks: dict[str, str] = {}
    try:
        passages = await asyncio.wait_for(
            _search(retriever, collections, query, plan, fallbacks), retriever.config.timeout_s
        )
    except (TimeoutError, HeadwayError) as exc:
        reason = "timeout" if isinstance(exc, TimeoutError) else f"{exc.__class__.__name__}: {exc}"
        log.warning(
            "retrieval failed; answering without context",
            extra={"request_id": record.request_id, "reason": reason},
        )
        outcome.status = "failed"
        quality["error"] = reason[:500]
        passages = []
    if passages:
        content, used = context_message(passages, retriever.config.max_context_chars)
        inject(body, content)
        outcome.status = "hit"
        outcome.citations = [
            {"index": n, **{k: v for k, v in p.to_json().items() if k != "text"}, "snippet": p.text[:300]}
            for n, p in enumerate(used, start=1)
        ]
    retriever.outcomes[outcome.status or "none"] += 1
    if fallbacks:
        quality["fallback"] = fallbacks  # answered from the lexical half: the vector half failed
    quality.update(
        status=outcome.status,
        passages=len(outcome.citations),
        latency_ms=round((time.perf_counter() - started) * 1000, 3),
    )
    record.quality["retrieval"] = quality
    return outcome


async def _search(
    retriever: Retriever, collections: list[str], query: str, plan: _Plan, fallbacks: dict[str, str]
) -> list[Passage]:
    if not query.strip() or not collections:
        return []
    results = await asyncio.gather(*(retriever.retrieve(c, query, plan.k, plan.filters) for c in collections))
    fallbacks.update({r.collection: r.fallback for r in results if r.fallback is not None})
    merged = sorted((p for r in results for p in r.passages), key=lambda p: -p.score)
    return merged[: plan.k]
