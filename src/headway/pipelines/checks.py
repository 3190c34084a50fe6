"""Quality checks of one run: completeness, uniqueness, validity, freshness, volume.

Each check measures one number and compares it with its ``warn`` and ``fail``
thresholds. Ratios (completeness, uniqueness, validity) trip when they fall below a
threshold; freshness (age of the newest value, seconds) and volume (relative distance
of rows read from the median of recent runs) trip when they rise above one.

A check that cannot measure its number is a finding, never a silent pass: it takes its
most severe configured level (a freshness check whose field no longer holds dates
fails), except a volume check still gathering history, which warns.
"""

from __future__ import annotations

import statistics
import time
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from headway.config import CheckConfig
from headway.pipelines.schema import epoch

_LOWER_IS_WORSE = frozenset({"completeness", "uniqueness", "validity"})
MIN_HISTORY = 2


@dataclass(slots=True)
class CheckResult:
    check: str
    field: str | None
    value: float | None
    level: str  # ok | warn | fail
    warn: float | None
    fail: float | None
    detail: str

    def to_json(self) -> dict[str, Any]:
        return {
            "check": self.check,
            "field": self.field,
            "value": None if self.value is None else round(self.value, 6),
            "level": self.level,
            "warn": self.warn,
            "fail": self.fail,
            "detail": self.detail,
        }


def _level(check: CheckConfig, value: float) -> str:
    if check.check in _LOWER_IS_WORSE:
        if check.fail is not None and value < check.fail:
            return "fail"
        if check.warn is not None and value < check.warn:
            return "warn"
        return "ok"
    if check.fail is not None and value > check.fail:
        return "fail"
    if check.warn is not None and value > check.warn:
        return "warn"
    return "ok"


def _measure(
    check: CheckConfig, rows: Sequence[dict[str, Any]], valid: int, history: Sequence[int], now: float
) -> tuple[float | None, str]:
    name = check.field or ""
    if check.check == "completeness":
        if not rows:
            return None, "no rows"
        present = sum(1 for r in rows if r.get(name) not in (None, ""))
        return present / len(rows), f"{len(rows) - present} of {len(rows)} rows have no {name}"
    if check.check == "uniqueness":
        values = [str(r[name]).strip().lower() for r in rows if r.get(name) not in (None, "")]
        if not values:
            return None, "no values"
        distinct = len(set(values))
        return distinct / len(values), f"{len(values) - distinct} duplicate {name} values"
    if check.check == "validity":
        if not rows:
            return None, "no rows"
        return valid / len(rows), f"{len(rows) - valid} of {len(rows)} rows broke the contract"
    if check.check == "freshness":
        stamps = [t for t in (epoch(r.get(name)) for r in rows) if t is not None]
        if not stamps:
            return None, f"no datetime values in {name}"
        age = now - max(stamps)
        return age, f"newest {name} is {age / 3600:.1f} h old"
    # volume
    recent = list(history)[: check.window]
    if len(recent) < MIN_HISTORY:
        return None, f"needs {MIN_HISTORY} earlier runs, has {len(recent)}"
    median = statistics.median(recent)
    if median == 0:
        return (0.0 if not rows else 1.0), f"{len(rows)} rows vs a median of 0"
    deviation = abs(len(rows) - median) / median
    return deviation, f"{len(rows)} rows vs a median of {median:g} over the last {len(recent)} runs"


def run_checks(
    checks: Sequence[CheckConfig],
    rows: Sequence[dict[str, Any]],
    *,
    valid: int,
    history: Sequence[int],
    now: float | None = None,
) -> list[CheckResult]:
    """``rows``: every record read this run; ``valid``: how many passed the contract;
    ``history``: rows read by recent runs, newest first."""
    moment = time.time() if now is None else now
    results = []
    for check in checks:
        value, detail = _measure(check, rows, valid, history, moment)
        if value is None:
            level = "warn" if check.check == "volume" or check.fail is None else "fail"
            detail = f"could not run: {detail}"
        else:
            level = _level(check, value)
        results.append(CheckResult(check.check, check.field, value, level, check.warn, check.fail, detail))
    return results


def worst(results: Sequence[CheckResult]) -> str:
    levels = {r.level for r in results}
    return "fail" if "fail" in levels else "warn" if "warn" in levels else "ok"
