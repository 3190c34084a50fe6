"""What the dashboard shows, computed from the request log (synchronous; called in a thread).

Series are bucketed in Python from one range scan over the ``created_at`` index: counts,
errors, cost, cache hits and answers by served path per bucket, and nearest-rank latency
percentiles per bucket. The scan is capped at ``ROW_CAP`` newest rows, which the response
reports. Retrieval, output-contract and review outcomes come from the same rows' quality
signals; pipeline runs by status from the pipelines part's table (read by name, so this
part does not import that one). Live state (breakers, queues, outbox) is added by
``signals`` from this process's metrics.
"""

from __future__ import annotations

import base64
import datetime as dt
import math
import time
from collections import Counter
from dataclasses import dataclass
from typing import Any

from sqlalchemy import ColumnElement, and_, func, or_, select, text, true

from headway.observe import SERVED_PATHS, served_path
from headway.store import Database, requests
from headway.types import JSON, RequestRecord

# Paths that answered, but not with the model asked for: what an operator must see at a glance.
NOT_ASKED = ("fallback", "stale-cache", "degraded")

WINDOWS = {"15m": 900, "1h": 3600, "6h": 6 * 3600, "24h": 86400, "7d": 7 * 86400}
POINTS = 60
ROW_CAP = 200_000
TOP = 8


def _percentile(ordered: list[float], q: float) -> float | None:
    if not ordered:
        return None
    return ordered[max(1, math.ceil(q * len(ordered))) - 1]


def dashboard(database: Database, window: str, *, now: float | None = None) -> JSON:
    now = time.time() if now is None else now
    span = WINDOWS[window]
    step = span / POINTS
    start = now - span
    columns = (
        requests.c.created_at,
        requests.c.latency_ms,
        requests.c.status_code,
        requests.c.cost_usd,
        requests.c.served_by,
        requests.c.model,
        requests.c.caller,
        requests.c.input_tokens,
        requests.c.output_tokens,
        requests.c.quality[("retrieval", "status")].as_string().label("retrieval"),
        requests.c.quality[("retrieval", "latency_ms")].as_float().label("retrieval_ms"),
        requests.c.quality["contract"].as_string().label("contract"),
        requests.c.quality[("review", "status")].as_string().label("review"),
    )
    with database.connect("read request records for the dashboard") as connection:
        rows = connection.execute(
            select(*columns).where(requests.c.created_at >= start).order_by(requests.c.created_at.desc()).limit(ROW_CAP)
        ).all()
        total_in_window = connection.execute(select(func.count()).where(requests.c.created_at >= start)).scalar_one()
        pipeline_runs = _pipeline_runs(connection, start)
    buckets = [start + (i + 1) * step for i in range(POINTS)]  # each point stamped at its bucket's end
    count = [0] * POINTS
    errors = [0] * POINTS
    cost = [0.0] * POINTS
    cache_hits = [0] * POINTS
    latencies: list[list[float]] = [[] for _ in range(POINTS)]
    models: Counter[str] = Counter()
    callers: Counter[str] = Counter()
    model_cost: Counter[str] = Counter()
    caller_cost: Counter[str] = Counter()
    paths: dict[str, list[int]] = {path: [0] * POINTS for path in SERVED_PATHS}
    retrieval: Counter[str] = Counter()
    retrieval_ms: list[float] = []
    contracts: Counter[str] = Counter()
    reviews: Counter[str] = Counter()
    for row in rows:
        index = min(POINTS - 1, max(0, int((row.created_at - start) / step)))
        count[index] += 1
        if row.status_code >= 500:
            errors[index] += 1
        if row.cost_usd:
            cost[index] += row.cost_usd
            model_cost[row.model] += row.cost_usd
            caller_cost[row.caller] += row.cost_usd
        if (row.served_by or "").startswith("cache"):
            cache_hits[index] += 1
        latencies[index].append(row.latency_ms)
        models[row.model] += 1
        callers[row.caller] += 1
        paths[served_path(row.served_by, row.status_code)][index] += 1
        if row.retrieval:
            retrieval[row.retrieval] += 1
            if row.retrieval_ms is not None:
                retrieval_ms.append(row.retrieval_ms)
        if row.contract:
            contracts[row.contract] += 1
        if row.review:
            reviews[row.review] += 1
    p50: list[float | None] = []
    p95: list[float | None] = []
    p99: list[float | None] = []
    for values in latencies:
        values.sort()
        p50.append(_percentile(values, 0.50))
        p95.append(_percentile(values, 0.95))
        p99.append(_percentile(values, 0.99))
    all_latencies = sorted(row.latency_ms for row in rows)
    return {
        "window": window,
        "step_s": step,
        "now": now,
        "truncated": total_in_window > len(rows),
        "series": {
            "time": buckets,
            "requests": count,
            "errors": errors,
            "cost_usd": [round(c, 9) for c in cost],
            "cache_hits": cache_hits,
            "p50_ms": p50,
            "p95_ms": p95,
            "p99_ms": p99,
            "paths": paths,
            "not_asked_model": [sum(paths[p][i] for p in NOT_ASKED) for i in range(POINTS)],
        },
        "totals": {
            "requests": len(rows),
            "errors": sum(errors),
            "cost_usd": round(sum(cost), 9),
            "cache_hits": sum(cache_hits),
            "p50_ms": _percentile(all_latencies, 0.50),
            "p95_ms": _percentile(all_latencies, 0.95),
            "p99_ms": _percentile(all_latencies, 0.99),
            "input_tokens": sum(row.input_tokens for row in rows),
            "output_tokens": sum(row.output_tokens for row in rows),
            "failed": sum(paths["error"]),
            "paths": {path: sum(counts) for path, counts in paths.items()},
            "not_asked_model": sum(sum(paths[p]) for p in NOT_ASKED),
        },
        "retrieval": {
            "outcomes": dict(sorted(retrieval.items())),
            "p50_ms": _percentile(sorted(retrieval_ms), 0.50),
            "p95_ms": _percentile(sorted(retrieval_ms), 0.95),
        },
        "contracts": dict(sorted(contracts.items())),
        "reviews": dict(sorted(reviews.items())),
        "pipeline_runs": pipeline_runs,
        "top_models": _top(models, model_cost, "model"),
        "top_callers": _top(callers, caller_cost, "caller"),
    }


def _pipeline_runs(connection: Any, since: float) -> dict[str, int]:
    """Pipeline runs started in the window by status (the pipelines part's table, migrated with every store)."""
    rows = connection.execute(
        text("SELECT status, count(*) FROM pipeline_runs WHERE started_at >= :since GROUP BY status"),
        {"since": since},
    ).all()
    return {str(status): int(n) for status, n in sorted(rows)}


# Live state in this process, read from its metrics: name prefix -> what the dashboard calls it.
SIGNAL_PREFIXES = (
    "headway_circuit_breaker_state",
    "headway_review_queue_",
    "headway_pipeline_",
    "headway_retrieval_",
    "headway_webhook_outbox_",
    "headway_alert_firing",
    "headway_retries_total",
    "headway_output_contract_",
    "headway_request_log_",
)


def signals(metrics: Any, breakers: dict[str, str] | None, alerts: list[Any] | None, rules: list[str] | None = None) -> JSON:
    """Live state: breakers per deployment, every alert rule's state (``unknown`` until its first
    evaluation), and this process's samples of the part metrics."""
    samples = metrics.samples(SIGNAL_PREFIXES) if metrics is not None and metrics.enabled else {}
    known = {a.rule: a for a in alerts or []}
    return {
        "breakers": [{"deployment": key, "state": state} for key, state in sorted((breakers or {}).items())],
        "alerts": [
            {"rule": name, "state": known[name].state, "since": known[name].since, "value": known[name].value}
            if name in known else {"rule": name, "state": "unknown", "since": None, "value": None}
            for name in (rules if rules is not None else sorted(known))
        ],
        "metrics": {
            name: [{"labels": labels, "value": value} for labels, value in values]
            for name, values in sorted(samples.items())
        },
    }


def _top(counts: Counter[str], costs: Counter[str], key: str) -> list[dict[str, Any]]:
    return [
        {key: name, "requests": n, "cost_usd": round(costs.get(name, 0.0), 9)}
        for name, n in sorted(counts.items(), key=lambda item: (-item[1], item[0]))[:TOP]
    ]


# -- the request explorer --------------------------------------------------------------------
STATUSES = ("ok", "error", "4xx", "5xx")
REVIEW_STATES = ("any", "none", "pending", "approved", "edited", "rejected", "expired")
PAGE = 50
MAX_PAGE = 500


@dataclass(frozen=True, slots=True)
class Explore:
    """One explorer query; every field is optional. Times are epoch seconds (UTC)."""

    since: float | None = None
    until: float | None = None
    path: str | None = None  # one of SERVED_PATHS
    status: str | None = None  # one of STATUSES
    error_type: str | None = None
    model: str | None = None
    caller: str | None = None
    team: str | None = None
    review: str | None = None  # one of REVIEW_STATES
    cursor: str | None = None  # from the previous page's ``next``
    limit: int = PAGE


class ExploreError(ValueError):
    """A filter value the explorer cannot use; ``param`` names it."""

    def __init__(self, message: str, param: str) -> None:
        super().__init__(message)
        self.param = param


def parse_time(value: str | None, param: str) -> float | None:
    """``2026-12-06T01:30`` (minutes or seconds, UTC, as a datetime-local input sends it) or epoch seconds."""
    if value is None or not value.strip():
        return None
    value = value.strip()
    try:
        return float(value)
    except ValueError:
        pass
    try:
        parsed = dt.datetime.fromisoformat(value.removesuffix("Z"))
    except ValueError:
        raise ExploreError(f"{param!r} must be a UTC time like 2026-01-31T14:05 or epoch seconds", param) from None
    if parsed.tzinfo is None:
        parsed = parsed.replace(tzinfo=dt.UTC)
    return parsed.timestamp()


def parse_limit(value: str | None) -> int:
    if value is None or not value.strip():
        return PAGE
    try:
        limit = int(value)
    except ValueError:
        limit = 0
    if not 1 <= limit <= MAX_PAGE:
        raise ExploreError(f"'limit' must be a whole number from 1 to {MAX_PAGE}", "limit")
    return limit


def encode_cursor(created_at: float, request_id: str) -> str:
    return base64.urlsafe_b64encode(f"{created_at!r}|{request_id}".encode()).decode().rstrip("=")


def decode_cursor(cursor: str) -> tuple[float, str]:
    try:
        raw = base64.urlsafe_b64decode(cursor + "=" * (-len(cursor) % 4)).decode()
        created, request_id = raw.split("|", 1)
        return float(created), request_id
    except (ValueError, UnicodeDecodeError):
        raise ExploreError("'cursor' is not one this explorer handed out", "cursor") from None


def _path_filter(path: str) -> ColumnElement[bool]:
    served, answered = requests.c.served_by, requests.c.status_code < 400
    if path == "error":
        return requests.c.status_code >= 400
    if path == "primary":
        return and_(answered, or_(served.is_(None), served == "primary"))
    if path == "fallback":
        return and_(answered, served.like("fallback%"))
    if path == "cache":
        return and_(answered, served.like("cache%"))
    return and_(answered, served == path)


def _where(query: Explore) -> ColumnElement[bool]:
    c = requests.c
    clauses: list[ColumnElement[bool]] = [true()]
    if query.since is not None:
        clauses.append(c.created_at >= query.since)
    if query.until is not None:
        clauses.append(c.created_at < query.until)
    if query.path:
        if query.path not in SERVED_PATHS:
            raise ExploreError(f"'path' must be one of {', '.join(SERVED_PATHS)}", "path")
        clauses.append(_path_filter(query.path))
    if query.status:
        status = {
            "ok": c.status_code < 400,
            "error": c.status_code >= 400,
            "4xx": and_(c.status_code >= 400, c.status_code < 500),
            "5xx": c.status_code >= 500,
        }.get(query.status)
        if status is None:
            raise ExploreError(f"'status' must be one of {', '.join(STATUSES)}", "status")
        clauses.append(status)
    for column, wanted in ((c.error_type, query.error_type), (c.model, query.model), (c.caller, query.caller), (c.team, query.team)):
        if wanted:
            clauses.append(column == wanted)
    if query.review and query.review != "any":
        if query.review not in REVIEW_STATES:
            raise ExploreError(f"'review' must be one of {', '.join(REVIEW_STATES)}", "review")
        review = c.quality[("review", "status")].as_string()
        clauses.append(review.is_(None) if query.review == "none" else review == query.review)
    if query.cursor:
        created, request_id = decode_cursor(query.cursor)
        clauses.append(or_(c.created_at < created, and_(c.created_at == created, c.request_id < request_id)))
    return and_(*clauses)


def explore(database: Database, query: Explore) -> tuple[list[dict[str, Any]], str | None]:
    """One page of request rows, newest first, and the cursor of the next page (None on the last)."""
    c = requests.c
    columns = (
        c.request_id, c.created_at, c.endpoint, c.model, c.caller, c.team, c.status_code, c.error_type,
        c.served_by, c.deployment, c.latency_ms, c.input_tokens, c.output_tokens, c.cost_usd, c.attempts,
        c.quality[("review", "status")].as_string().label("review"),
        c.quality[("review", "id")].as_string().label("review_id"),
    )
    statement = (
        select(*columns).where(_where(query)).order_by(c.created_at.desc(), c.request_id.desc()).limit(query.limit + 1)
    )
    with database.connect("read request records") as connection:
        rows = [dict(row._mapping) for row in connection.execute(statement)]
    for row in rows:
        row["path"] = served_path(row["served_by"], row["status_code"])
        row["attempt_count"] = len(row.pop("attempts") or [])
    more = len(rows) > query.limit
    rows = rows[: query.limit]
    next_cursor = encode_cursor(rows[-1]["created_at"], rows[-1]["request_id"]) if more and rows else None
    return rows, next_cursor


def explore_records(database: Database, query: Explore) -> tuple[list[RequestRecord], str | None]:
    """``explore`` with whole records (the admin API's answer)."""
    c = requests.c
    statement = select(requests).where(_where(query)).order_by(c.created_at.desc(), c.request_id.desc()).limit(query.limit + 1)
    with database.connect("read request records") as connection:
        records = [RequestRecord.from_dict(dict(row._mapping)) for row in connection.execute(statement)]
    more = len(records) > query.limit
    records = records[: query.limit]
    next_cursor = encode_cursor(records[-1].created_at, records[-1].request_id) if more and records else None
    return records, next_cursor
