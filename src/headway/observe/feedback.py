"""User feedback on requests: validation, storage, the record's quality summary, JSONL export.

Feedback lives in its own table (kept longer than records, for evaluation datasets) and
is also summarised into the request record's ``quality["feedback"]`` in the same
transaction, so every reader of the record (admin API, console, CLI) sees it.
"""

from __future__ import annotations

import math
import secrets
import time
from collections.abc import Iterator
from dataclasses import asdict, dataclass, field
from typing import Any

from sqlalchemy import and_, or_, select, update
from sqlalchemy.exc import IntegrityError

from headway.errors import InvalidRequestError
from headway.observe.tables import feedback
from headway.store import SqlRepository, requests
from headway.types import JSON

# The record keeps the latest few; the table keeps all.
RECORD_SUMMARY_LIMIT = 20
MAX_COMMENT_CHARS = 10_000
_EXPORT_PAGE = 1000


@dataclass(frozen=True, slots=True)
class Feedback:
    feedback_id: str
    request_id: str
    created_at: float
    caller: str
    score: float | None = None
    label: str | None = None
    comment: str | None = None
    metadata: JSON = field(default_factory=dict)

    def to_dict(self) -> JSON:
        return asdict(self)

    def summary(self) -> JSON:
        return {k: v for k, v in self.to_dict().items() if k not in ("request_id", "metadata")}


def new_feedback_id() -> str:
    return f"fb_{secrets.token_hex(12)}"


def parse_feedback(body: dict[str, Any], *, caller: str, now: float | None = None) -> Feedback:
    """Validate a ``POST /v1/feedback`` body; errors name the offending field."""
    request_id = body.get("request_id")
    if not isinstance(request_id, str) or not request_id:
        raise InvalidRequestError("'request_id' is required and must be a non-empty string", param="request_id")
    if len(request_id) > 64:
        raise InvalidRequestError("'request_id' is at most 64 characters", param="request_id")
    score = body.get("score")
    if score is not None:
        if isinstance(score, bool) or not isinstance(score, int | float) or not math.isfinite(score):
            raise InvalidRequestError("'score' must be a finite number", param="score")
        score = float(score)
    label = body.get("label")
    if label is not None and (not isinstance(label, str) or not label.strip() or len(label) > 200):
        raise InvalidRequestError("'label' must be a non-empty string of at most 200 characters", param="label")
    if score is None and label is None:
        raise InvalidRequestError("give a 'score' (number) or a 'label' (string), or both", param="score")
    comment = body.get("comment")
    if comment is not None and (not isinstance(comment, str) or len(comment) > MAX_COMMENT_CHARS):
        raise InvalidRequestError(f"'comment' must be a string of at most {MAX_COMMENT_CHARS} characters", param="comment")
    metadata = body.get("metadata", {})
    if not isinstance(metadata, dict):
        raise InvalidRequestError("'metadata' must be an object", param="metadata")
    unknown = sorted(set(body) - {"request_id", "score", "label", "comment", "metadata"})
    if unknown:
        raise InvalidRequestError(f"unknown field {unknown[0]!r}", param=unknown[0])
    return Feedback(
        feedback_id=new_feedback_id(),
        request_id=request_id,
        created_at=time.time() if now is None else now,
        caller=caller,
        score=score,
        label=label.strip() if isinstance(label, str) else None,
        comment=comment,
        metadata=metadata,
    )


def _row(row: Any) -> Feedback:
    data = dict(row._mapping)
    data["metadata"] = data.get("metadata") or {}
    return Feedback(**data)


class FeedbackStore(SqlRepository):
    def add(self, item: Feedback, *, owner: str | None = None) -> bool:
        """Store ``item``; False when no such request exists (or, with ``owner``, it belongs to another caller)."""
        try:
            with self.transaction("store feedback") as connection:
                row = connection.execute(
                    select(requests.c.caller, requests.c.quality).where(requests.c.request_id == item.request_id)
                ).first()
                if row is None or (owner is not None and row.caller != owner):
                    return False
                connection.execute(feedback.insert().values(**item.to_dict()))
                quality = dict(row.quality or {})
                summary = [*(quality.get("feedback") or []), item.summary()][-RECORD_SUMMARY_LIMIT:]
                quality["feedback"] = summary
                connection.execute(update(requests).where(requests.c.request_id == item.request_id).values(quality=quality))
        except IntegrityError:
            # The same feedback id stored twice (e.g. one review decision copied by two sweeps
            # at once): the first write stands, and so adding is idempotent. Any other
            # constraint failing is a bug and surfaces.
            if not self._select(select(feedback).where(feedback.c.feedback_id == item.feedback_id)):
                raise
            return True
        return True

    def for_request(self, request_id: str) -> list[Feedback]:
        statement = select(feedback).where(feedback.c.request_id == request_id).order_by(feedback.c.created_at)
        return self._select(statement)

    def query(
        self,
        *,
        since: float | None = None,
        until: float | None = None,
        label: str | None = None,
        limit: int = 100,
    ) -> list[Feedback]:
        statement = select(feedback).order_by(feedback.c.created_at.desc()).limit(limit)
        for condition in self._conditions(since, until, label):
            statement = statement.where(condition)
        return self._select(statement)

    def export(
        self, *, since: float | None = None, until: float | None = None, label: str | None = None
    ) -> Iterator[JSON]:
        """Feedback joined with its request record, oldest first, read page by page."""
        cursor: tuple[float, str] | None = None
        while True:
            statement = (
                select(feedback, requests)
                .select_from(feedback.outerjoin(requests, requests.c.request_id == feedback.c.request_id))
                .order_by(feedback.c.created_at, feedback.c.feedback_id)
                .limit(_EXPORT_PAGE)
            )
            for condition in self._conditions(since, until, label):
                statement = statement.where(condition)
            if cursor is not None:
                statement = statement.where(
                    or_(
                        feedback.c.created_at > cursor[0],
                        and_(feedback.c.created_at == cursor[0], feedback.c.feedback_id > cursor[1]),
                    )
                )
            with self.reading("read feedback") as connection:
                rows = connection.execute(statement).all()
            for row in rows:
                yield _export_line(row)
            if len(rows) < _EXPORT_PAGE:
                return
            last = rows[-1]._mapping
            cursor = (last[feedback.c.created_at], last[feedback.c.feedback_id])

    def _conditions(self, since: float | None, until: float | None, label: str | None) -> list[Any]:
        conditions = []
        if since is not None:
            conditions.append(feedback.c.created_at >= since)
        if until is not None:
            conditions.append(feedback.c.created_at < until)
        if label is not None:
            conditions.append(feedback.c.label == label)
        return conditions

    def _select(self, statement: Any) -> list[Feedback]:
        with self.reading("read feedback") as connection:
            return [_row(r) for r in connection.execute(statement)]


_REQUEST_FIELDS = (
    "endpoint", "model", "deployment", "served_by", "status_code", "latency_ms", "input_tokens", "output_tokens",
    "cost_usd", "team", "error_type", "attempts", "quality",
)


def _export_line(row: Any) -> JSON:
    data = row._mapping
    line: JSON = {
        "feedback_id": data[feedback.c.feedback_id],
        "request_id": data[feedback.c.request_id],
        "created_at": data[feedback.c.created_at],
        "caller": data[feedback.c.caller],
        "score": data[feedback.c.score],
        "label": data[feedback.c.label],
        "comment": data[feedback.c.comment],
        "metadata": data[feedback.c.metadata] or {},
        "request": None,
    }
    if data[requests.c.request_id] is not None:
        request: JSON = {name: data[requests.c[name]] for name in _REQUEST_FIELDS}
        request["created_at"] = data[requests.c.created_at]
        request["metadata"] = data[requests.c.metadata] or {}
        quality = dict(request["quality"] or {})
        quality.pop("feedback", None)  # the line itself is the feedback
        request["quality"] = quality
        line["request"] = request
    return line
