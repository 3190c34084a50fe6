"""Budget periods: calendar spans in UTC, named so every replica computes the same key."""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass

from headway.config import BudgetPeriod


@dataclass(frozen=True, slots=True)
class Span:
    id: str  # "2026-11-25", "2026-W48", "2026-11", "total"
    start: float  # unix seconds; 0 for "total"
    end: float | None  # unix seconds; None for "total"


def period_span(period: BudgetPeriod, now: float) -> Span:
    """The period containing ``now`` (unix seconds)."""
    if period == "total":
        return Span("total", 0.0, None)
    moment = dt.datetime.fromtimestamp(now, dt.UTC)
    day = dt.datetime(moment.year, moment.month, moment.day, tzinfo=dt.UTC)
    if period == "day":
        return Span(day.strftime("%Y-%m-%d"), day.timestamp(), (day + dt.timedelta(days=1)).timestamp())
    if period == "week":
        monday = day - dt.timedelta(days=day.weekday())
        year, week, _ = monday.isocalendar()
        return Span(f"{year}-W{week:02d}", monday.timestamp(), (monday + dt.timedelta(days=7)).timestamp())
    first = day.replace(day=1)
    following = first.replace(year=first.year + 1, month=1) if first.month == 12 else first.replace(month=first.month + 1)
    return Span(first.strftime("%Y-%m"), first.timestamp(), following.timestamp())
