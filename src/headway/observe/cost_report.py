"""Cost per caller (key), team, model or deployment over a time range, from the request log.

``since``/``until`` accept what people type: epoch seconds, ISO 8601 dates and times, or a
duration back from now (``30m``, ``24h``, ``7d``, ``2w``).
"""

from __future__ import annotations

import datetime as dt
import re
import time
from dataclasses import asdict, dataclass
from typing import Any, Literal

from sqlalchemy import case, func, select

from headway.errors import InvalidRequestError
from headway.store import Database, requests
from headway.types import JSON

GroupBy = Literal["caller", "team", "model", "deployment"]
GROUP_COLUMNS = {
    "caller": requests.c.caller,
    "team": requests.c.team,
    "model": requests.c.model,
    "deployment": requests.c.deployment,
}
_DURATION = re.compile(r"^(\d+(?:\.\d+)?)\s*([smhdw])$")
_UNIT_SECONDS = {"s": 1, "m": 60, "h": 3600, "d": 86400, "w": 7 * 86400}


def parse_time(text: str, *, now: float | None = None, param: str = "since") -> float:
    """Epoch seconds from ``1700000000``, ``2026-01-31``, ``2026-01-31T12:00:00Z`` or ``24h`` (ago)."""
    now = time.time() if now is None else now
    value = text.strip()
    match = _DURATION.match(value.lower())
    if match:
        return now - float(match.group(1)) * _UNIT_SECONDS[match.group(2)]
    try:
        return float(value)
    except ValueError:
        pass
    try:
        parsed = dt.datetime.fromisoformat(value.replace("Z", "+00:00"))
    except ValueError:
        raise InvalidRequestError(
            f"'{param}' must be epoch seconds, an ISO 8601 date/time or a duration like 24h or 7d; got {text!r}",
            param=param,
        ) from None
    if parsed.tzinfo is None:
        parsed = parsed.replace(tzinfo=dt.UTC)
    return parsed.timestamp()


@dataclass(frozen=True, slots=True)
class CostRow:
    key: str | None
    requests: int
    cost_usd: float
    input_tokens: int
    output_tokens: int
    cache_read_tokens: int
    reasoning_tokens: int
    unpriced_requests: int  # requests with tokens but no known price: their cost is missing from cost_usd

    def to_dict(self, group_by: str) -> JSON:
        data = asdict(self)
        data[group_by] = data.pop("key")
        return data


def cost_by(
    database: Database,
    group_by: GroupBy,
    *,
    since: float | None = None,
    until: float | None = None,
    filters: dict[str, str] | None = None,
) -> list[CostRow]:
    """Totals per group, most expensive first."""
    column = GROUP_COLUMNS[group_by]
    unpriced = case(
        ((requests.c.cost_usd.is_(None) & ((requests.c.input_tokens + requests.c.output_tokens) > 0), 1)), else_=0
    )
    statement = (
        select(
            column.label("key"),
            func.count().label("requests"),
            func.coalesce(func.sum(requests.c.cost_usd), 0.0).label("cost_usd"),
            func.coalesce(func.sum(requests.c.input_tokens), 0).label("input_tokens"),
            func.coalesce(func.sum(requests.c.output_tokens), 0).label("output_tokens"),
            func.coalesce(func.sum(requests.c.cache_read_tokens), 0).label("cache_read_tokens"),
            func.coalesce(func.sum(requests.c.reasoning_tokens), 0).label("reasoning_tokens"),
            func.coalesce(func.sum(unpriced), 0).label("unpriced_requests"),
        )
        .group_by(column)
        .order_by(func.coalesce(func.sum(requests.c.cost_usd), 0.0).desc(), column)
    )
    if since is not None:
        statement = statement.where(requests.c.created_at >= since)
    if until is not None:
        statement = statement.where(requests.c.created_at < until)
    for name, value in (filters or {}).items():
        statement = statement.where(GROUP_COLUMNS[name] == value)
    with database.connect("read request records") as connection:
        rows = connection.execute(statement).all()
    return [_cost_row(r) for r in rows]


def _cost_row(row: Any) -> CostRow:
    return CostRow(
        key=row.key,
        requests=int(row.requests),
        cost_usd=round(float(row.cost_usd), 12),
        input_tokens=int(row.input_tokens),
        output_tokens=int(row.output_tokens),
        cache_read_tokens=int(row.cache_read_tokens),
        reasoning_tokens=int(row.reasoning_tokens),
        unpriced_requests=int(row.unpriced_requests),
    )


def totals(rows: list[CostRow]) -> JSON:
    return {
        "requests": sum(r.requests for r in rows),
        "cost_usd": round(sum(r.cost_usd for r in rows), 12),
        "input_tokens": sum(r.input_tokens for r in rows),
        "output_tokens": sum(r.output_tokens for r in rows),
        "unpriced_requests": sum(r.unpriced_requests for r in rows),
    }
