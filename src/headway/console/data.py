"""What the dashboard shows, computed from the request log (synchronous; called in a thread).

Series are bucketed in Python from one range scan over the ``created_at`` index: counts,
errors, cost and cache hits per bucket, and nearest-rank latency percentiles per bucket.
The scan is capped at ``ROW_CAP`` newest rows, which the response reports.
"""

from __future__ import annotations

import math
import time
from collections import Counter
from typing import Any

from sqlalchemy import Engine, func, select
from sqlalchemy.exc import SQLAlchemyError

from headway.errors import StoreUnavailableError
from headway.store.tables import requests
from headway.types import JSON

WINDOWS = {"15m": 900, "1h": 3600, "6h": 6 * 3600, "24h": 86400, "7d": 7 * 86400}
POINTS = 60
ROW_CAP = 200_000
TOP = 8


def _percentile(ordered: list[float], q: float) -> float | None:
    if not ordered:
        return None
    return ordered[max(1, math.ceil(q * len(ordered))) - 1]


def dashboard(engine: Engine, window: str, *, now: float | None = None) -> JSON:
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
    )
    try:
        with engine.connect() as connection:
            rows = connection.execute(
                select(*columns).where(requests.c.created_at >= start).order_by(requests.c.created_at.desc()).limit(ROW_CAP)
            ).all()
            total_in_window = connection.execute(select(func.count()).where(requests.c.created_at >= start)).scalar_one()
    except SQLAlchemyError as exc:
        raise StoreUnavailableError(f"cannot read request records: {exc.__class__.__name__}") from exc
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
        },
        "top_models": _top(models, model_cost, "model"),
        "top_callers": _top(callers, caller_cost, "caller"),
    }


def _top(counts: Counter[str], costs: Counter[str], key: str) -> list[dict[str, Any]]:
    return [
        {key: name, "requests": n, "cost_usd": round(costs.get(name, 0.0), 9)}
        for name, n in sorted(counts.items(), key=lambda item: (-item[1], item[0]))[:TOP]
    ]
